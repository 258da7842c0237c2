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
# lives there; `phyper_workflow.targets` is its input function: the records of the
# jobs phyper finds to run.) What Snakemake sees of a job is its completion record,
# and its input list names only the dependencies that are to run: see
# phyper_snakemake/_workflow.py for why. Parsing this file reads and writes nothing.

phyper_workflow.prepare(workflow)

for _phyper_rule in phyper_workflow.rules:

    rule:
        name:
            _phyper_rule.name
        input:
            # only the records of the dependencies that are to run (a function)
            _phyper_rule.input,
        output:
            # update: Snakemake must not delete a record before the job runs; the job
            # decides under its lock whether another process already did the work
            update(_phyper_rule.output),
        wildcard_constraints:
            hash=_phyper_rule.wildcard_pattern,
        message:
            "{params.label}"
        # what one job needs, as the step declares it: a cluster profile sizes jobs by these
        threads: _phyper_rule.threads
        resources:
            **_phyper_rule.resources,
        params:
            # not in shell: directly, which is evaluated when the job runs and would
            # see the loop's last rule; params are bound now, {hash} filled per job.
            # label and force are per-job values Snakemake leaves out of its params
            # rerun trigger.
            command=_phyper_rule.command,
            label=_phyper_rule.label,
            force=_phyper_rule.force,
        shell:
            "{params.command}{params.force}"
