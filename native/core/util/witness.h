#ifndef NVC_WITNESS_H
#define NVC_WITNESS_H

/* What a lookup saw of the filesystem, to tell later whether it would see the same (the C
 * side of lib/path-witness.ts): every host path it examined with the identity lstat gave it,
 * or its absence; for procfs and sysfs files, whose times mean nothing, their content.
 *
 * A directory passed through keeps device, inode and type only: an entry added beside the
 * one looked up changes nothing the lookup saw (that entry is recorded on its own, present
 * or absent). A directory whose entries were listed, and every other file, keep size and
 * nanosecond times too. File times tick coarsely, so an entry changed less than the settling
 * time before it was recorded is never taken as unchanged (git's racily clean files).
 *
 * Record BEFORE looking: a change between the record and the lookup then leaves a witness
 * older than the result, which only costs a fresh lookup next time; the other order could
 * keep a stale result.
 *
 * Recording never fails: a witness that could not record something (no memory, a path too
 * long) is spoiled and never says unchanged. Every function takes NULL for "do not record". */

#include <stddef.h>

struct nvc_witness;

/* settle_ms: the settling time (lib/path-witness.ts's 2000 by default; tests pass 0).
 * NULL when out of memory. */
struct nvc_witness *nvc_witness_new(unsigned settle_ms);
void nvc_witness_free(struct nvc_witness *w);

/* One host path as lstat sees it (a link is not followed). listed: a directory whose entries
 * the lookup listed. */
void nvc_witness_path(struct nvc_witness *w, const char *host_path, int listed);

/* `path` resolved inside the host directory `root` as the in-root resolver does (absolute
 * links start again at root, ".." stops at it, links followed, the last one too): every
 * component met is recorded, links and the directories they pass through included, up to the
 * first that is missing (recorded absent). A link retargeted anywhere along the way, or a file
 * appearing where one was missing, changes the witness. listed: the directory it ends at was
 * listed. */
void nvc_witness_walk(struct nvc_witness *w, const char *root, const char *path, int listed);

/* A procfs or sysfs file by its content (a hash of all of it), or by the errno of reading it. */
void nvc_witness_content(struct nvc_witness *w, const char *host_path);

/* Whether everything recorded is as it was: one lstat (or one short read) per entry, no
 * allocation. Any failure to look again counts as a change. 0 for NULL. */
int nvc_witness_unchanged(const struct nvc_witness *w);

/* Entries recorded (distinct paths and kinds). */
size_t nvc_witness_size(const struct nvc_witness *w);

#endif
