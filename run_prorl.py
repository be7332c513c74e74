"""Run the ProRL pipeline: python run_prorl.py --dataset=ml-1m [--config_files="a.yaml b.yaml"] [--key=value ...]

--stage=dataset|data|simulators|pretrain|rl|test   run up to this stage (earlier ones load from their cache)
--checkpoint=FILE    evaluate a saved policy instead of training
--requests=FILE      with a policy: write ranked paths for each JSON line {"history": [...], "target": ...}
Every other --key=value is a RecBole-style config override.
"""
import argparse
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ProRL")
    parser.add_argument("--dataset", "-d", default=None, help="RecBole dataset name (default: bundled ml-100k)")
    parser.add_argument("--config_files", default=None, help="space-separated YAML files")
    parser.add_argument("--stage", default="test")
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--requests", default=None)
    args, _ = parser.parse_known_args()  # the rest are RecBole --key=value overrides, read by its Config

    import recbole_prorl  # noqa: F401  (shims + registration)
    from recbole_prorl.compat import ProRLError
    from recbole_prorl.quick_start import run_prorl

    files = args.config_files.split() if args.config_files else None
    try:
        if args.model != "ProRL":
            from recbole_prorl.utils import get_model
            get_model(args.model)  # a clear error for unknown names
            raise ProRLError(f"run_prorl.py runs the ProRL pipeline; got --model={args.model} "
                             "(use RecBole's run_recbole.py for other models)")
        run_prorl(args.dataset, files, stage=args.stage, checkpoint=args.checkpoint, requests=args.requests)
    except ProRLError as e:
        if args.dataset == "ml-1m" and "could not be downloaded" in str(e):
            e = ProRLError(f"{e}. For an offline run use --dataset=ml-100k (bundled with RecBole)")
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
