"""Command line: ``python -m phyper run|status|plan MODULE:ATTRIBUTE ...``."""

from __future__ import annotations

import argparse
import json
import sys

from phyper._errors import PhyperError
from phyper._runner import load_pipeline, run_job
from phyper._status import job_verdicts, status_lines


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m phyper`` and of the ``phyper`` script."""
    parser = argparse.ArgumentParser(prog="phyper", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one job (what the engines call)")
    run.add_argument("pipeline", help="MODULE:ATTRIBUTE of the phyper.Pipeline, e.g. pipeline:pipeline")
    run.add_argument("step")
    run.add_argument("key", help="the job's hash, or `all` for an aggregate step")
    run.add_argument("--engine", default=None, help="recorded in the completion record")
    run.add_argument(
        "--force", action="store_true", help="run even if the job's completion record is valid (a manual rerun)"
    )
    status = commands.add_parser("status", help="how many jobs of each step are complete")
    status.add_argument("pipeline")
    status.add_argument("-v", "--verbose", action="store_true", help="list every job to run and why (at most 20 are listed otherwise)")
    plan = commands.add_parser("plan", help="print the plan as JSON")
    plan.add_argument("pipeline")
    arguments = parser.parse_args(argv)
    try:
        pipeline = load_pipeline(arguments.pipeline)
        if arguments.command == "run":
            run_job(pipeline, arguments.step, arguments.key, engine=arguments.engine, force=arguments.force)
        elif arguments.command == "status":
            for line in status_lines(job_verdicts(pipeline), arguments.verbose):
                print(line)
        else:
            built = pipeline.plan()
            json.dump(
                {
                    "steps": [step.__dict__ for step in built.steps],
                    "jobs": [{**job.__dict__, "id": job.id} for job in built],
                },
                sys.stdout,
                indent=1,
            )
            print()
    except PhyperError as error:
        print(f"phyper: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
