# phyper's rules for a pipeline. In the Snakefile:
#     import phyper_snakemake
#     phyper_workflow = phyper_snakemake.load("MODULE:ATTRIBUTE")
#     include: phyper_snakemake.SNAKEFILE
#
#     rule all:
#         default_target: True
#         input: phyper_workflow.targets
# One rule per step, named after it; hashed steps take the wildcard {hash}.
# (Snakemake keeps the default target of the including Snakefile, so `rule all`
# lives there.)

for _phyper_rule in phyper_workflow.rules:

    rule:
        name:
            _phyper_rule.name
        input:
            _phyper_rule.input,
        output:
            _phyper_rule.output,
        wildcard_constraints:
            hash=_phyper_rule.wildcard_pattern,
        message:
            _phyper_rule.message
        params:
            # not in shell: directly, which is evaluated when the job runs and would
            # see the loop's last rule; params are bound now, {hash} filled per job
            command=_phyper_rule.command,
        shell:
            "{params.command}"

