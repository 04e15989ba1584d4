#ifndef NVC_EXEC_MOUNTINFO_H
#define NVC_EXEC_MOUNTINFO_H

/* Reading this namespace's /proc/self/mountinfo: the propagation of a mount, and the
 * children of a mount (to find one that mount(2) attached, see edit_mount.c). */

#include <stddef.h>
#include <stdint.h>

struct mi_entry {
    uint64_t id, parent;
    int shared;            /* has a "shared:N" optional field */
    char mountpoint[4096]; /* unescaped */
};

/* Looks up mount id. Returns 1 found, 0 not found, -1 unreadable (errno set). */
int mi_lookup(uint64_t id, struct mi_entry *out);

/* The ids of every mount whose parent is `parent`, malloc'd into *ids. -1 on error. */
int mi_children(uint64_t parent, uint64_t **ids, size_t *n);

#endif
