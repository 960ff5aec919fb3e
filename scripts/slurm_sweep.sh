#!/usr/bin/env bash
# A sweep on a SLURM cluster: every array task is one worker of the same Optuna study on PostgreSQL.
# Workers claim grid points from the study (each point runs exactly once; a task killed by SLURM leaves a
# trial that another worker runs again after the heartbeat grace period), so the array size is just the
# number of GPUs you want busy at once. The run folders go to `out:` of the sweep file: put it on the
# shared file system.
#
#   export CXRLIB_SWEEP_STORAGE=postgresql://user:password@dbhost:5432/optuna
#   cxrlib sweep run params/sweeps/d000_table5_dinov2_vits14.yaml --storage "$CXRLIB_SWEEP_STORAGE" --limit 0  # check + enqueue only
#   mkdir -p logs && sbatch --array=0-7 scripts/slurm_sweep.sh params/sweeps/d000_table5_dinov2_vits14.yaml
#   cxrlib sweep status params/sweeps/d000_table5_dinov2_vits14.yaml --storage "$CXRLIB_SWEEP_STORAGE"
#
#SBATCH --job-name=cxrlib-sweep
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=24:00:00
#SBATCH --output=logs/sweep-%A_%a.out
set -euo pipefail
SWEEP_FILE="${1:?usage: sbatch --array=0-N scripts/slurm_sweep.sh SWEEP_FILE}"
: "${CXRLIB_SWEEP_STORAGE:?set CXRLIB_SWEEP_STORAGE to the study's PostgreSQL URL}"
cd "${SLURM_SUBMIT_DIR:-.}"
source .venv/bin/activate
export HF_HUB_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0
# one worker per array task; it stops when no grid point is left (or after --limit trials)
exec cxrlib sweep run "$SWEEP_FILE" --storage "$CXRLIB_SWEEP_STORAGE" --workers 1
