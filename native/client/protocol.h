/* The request protocol between nvc-ts-cli and `nvc-ts serve` (lib/serve/protocol.ts holds the same numbers). */
#ifndef NVC_CLIENT_PROTOCOL_H
#define NVC_CLIENT_PROTOCOL_H

#define NVCS_VERSION        1
#define NVCS_HEADER_BYTES   12
#define NVCS_DEFAULT_SOCKET "/run/nvc-ts/nvc-ts.sock"

enum {
    NVCS_REQUEST = 1,    /* client: cwd, argv, NVC_TS_* environment */
    NVCS_NEED_STDIN = 2, /* service: the command reads stdin (hook mode) */
    NVCS_STDIN = 3,      /* client: u8 is-a-terminal, blob of at most NVCS_STDIN_MAX + 1 bytes */
    NVCS_RESULT = 4,     /* service: i32 exit status, blob stdout, blob stderr */
    NVCS_ERROR = 5,      /* service: the request was refused or malformed (str message) */
    NVCS_HEALTH = 6,     /* `nvc-ts serve --check`: answered by a RESULT */
    NVCS_DECLINE = 7,    /* service: run it yourself (str reason): the caller sees another host than the service */
};

#define NVCS_REQUEST_MAX (256u * 1024u)
#define NVCS_STDIN_MAX   (1024u * 1024u)
#define NVCS_RESULT_MAX  (64u * 1024u * 1024u)

#endif
