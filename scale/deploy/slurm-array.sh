#!/usr/bin/env bash
# A kernel computed by a Slurm job array, no Redis: task i computes blocks i, i + N, ... where N is
# the array size (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT are read by `kernel index`).
# Create the store once on the shared file system, then: sbatch scale/deploy/slurm-array.sh
# Requeued or resubmitted tasks skip the blocks already written and verified.
#SBATCH --job-name=tg-kernel
#SBATCH --array=0-31
#SBATCH --cpus-per-task=1
#SBATCH --mem=2G
#SBATCH --time=02:00:00
#SBATCH --requeue
set -euo pipefail
npx tangentgrad kernel index --store "$HOME/kernels/kernel.zarr" --no-progress
