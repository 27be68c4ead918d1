-- Migration 7: Slurm job arrays. The slurm executor submits the first attempts of a sweep's
-- jobs that are ready together as one `sbatch --array`; each attempt is one task of it.
--
-- array_task: NULL for an attempt submitted as an ordinary Slurm job, else its task index in the
-- array (then slurm_name is the array's --job-name, shared by its tasks, and slurm_job_id reads
-- "<array job id>_<task>" once sbatch answered). A daemon that dies between sbatch and recording
-- the id finds each task again by the array's name and this index.
-- slurm_raw_id: the task's own numeric job id, which Slurm gives a task when it starts (squeue
-- %A); `sacct -c` on clusters without accounting storage knows finished tasks only by it.
ALTER TABLE cluster_jobs ADD COLUMN array_task INTEGER;
ALTER TABLE cluster_jobs ADD COLUMN slurm_raw_id TEXT NOT NULL DEFAULT '';
