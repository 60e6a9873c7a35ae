// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev: per-instance statistics in debugfs,
 * /sys/kernel/debug/mig_mdev/UUID/stats, one "name value" line each.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "mig.h"

static struct dentry *mig_debugfs_root;

static int mig_stats_show(struct seq_file *m, void *unused)
{
	struct mig_mdev_state *st = m->private;
	struct mig_stats s;
	const char *state;

	mutex_lock(&st->lock);
	s = st->stats;
	if (st->owner == MIG_OWNER_V2)
		state = mig_v2_state_name(st->v2.state);
	else
		state = mig_state_name(st->mig_state);
	mutex_unlock(&st->lock);

	seq_printf(m, "state %s\n", state);
	seq_printf(m, "chunks_saved %llu\n", s.chunks_saved);
	seq_printf(m, "bytes_saved %llu\n", s.bytes_saved);
	seq_printf(m, "chunks_loaded %llu\n", s.chunks_loaded);
	seq_printf(m, "bytes_loaded %llu\n", s.bytes_loaded);
	seq_printf(m, "passes %llu\n", s.passes);
	seq_printf(m, "transitions %llu\n", s.transitions);
	seq_printf(m, "errors %llu\n", s.errors);
	seq_printf(m, "resets %llu\n", s.resets);
	seq_printf(m, "save_copied %llu\n", s.save_copied);
	seq_printf(m, "save_inplace %llu\n", s.save_inplace);
	seq_printf(m, "load_copied %llu\n", s.load_copied);
	seq_printf(m, "user_out %llu\n", s.user_out);
	seq_printf(m, "user_in %llu\n", s.user_in);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(mig_stats);

/**
 * mig_debugfs_add() - create an instance's debugfs directory
 * @st: the instance
 *
 * debugfs is optional: failures are ignored, as the debugfs API asks.
 */
void mig_debugfs_add(struct mig_mdev_state *st)
{
	st->debugfs = debugfs_create_dir(dev_name(st->vdev.dev),
					 mig_debugfs_root);
	debugfs_create_file("stats", 0444, st->debugfs, st, &mig_stats_fops);
}

/**
 * mig_debugfs_remove() - remove an instance's debugfs directory
 * @st: the instance
 *
 * Returns once no reader is inside mig_stats_show() any more.
 */
void mig_debugfs_remove(struct mig_mdev_state *st)
{
	debugfs_remove(st->debugfs);
	st->debugfs = NULL;
}

/** mig_debugfs_init() - create /sys/kernel/debug/mig_mdev */
void mig_debugfs_init(void)
{
	mig_debugfs_root = debugfs_create_dir("mig_mdev", NULL);
}

/** mig_debugfs_exit() - remove /sys/kernel/debug/mig_mdev */
void mig_debugfs_exit(void)
{
	debugfs_remove(mig_debugfs_root);
}
