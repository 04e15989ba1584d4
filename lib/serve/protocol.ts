/**
 * The request protocol of `nvc-ts serve` and its native client (native/client/protocol.h holds the
 * same numbers): frames of `u32 magic "NVCS" | u16 version | u16 type | u32 body length | body`,
 * little-endian, strings and blobs as `u32 length | bytes`. Every length is checked against what is
 * left and against the frame type's bound before anything is copied.
 */
import { z } from 'zod';
import { NvcError } from '../errors';

export const PROTOCOL_VERSION = 1;
export const HEADER_BYTES = 12;
export const MAGIC = Buffer.from('NVCS', 'latin1');
export const DEFAULT_SOCKET = '/run/nvc-ts/nvc-ts.sock';

export const FrameType = { request: 1, needStdin: 2, stdin: 3, result: 4, error: 5, health: 6, decline: 7 } as const;

export const REQUEST_MAX_BYTES = 256 * 1024;
export const STDIN_MAX_BYTES = 1024 * 1024;
/** A result above this is refused by the client: the service reports it as an error instead. */
export const RESULT_MAX_BYTES = 64 * 1024 * 1024;

/** What a client may send, by type: its body bound. */
const CLIENT_BODY_MAX: Record<number, number> = {
  [FrameType.request]: REQUEST_MAX_BYTES,
  [FrameType.stdin]: STDIN_MAX_BYTES + 1 + 5,
  [FrameType.health]: 0,
};

export interface Frame {
  type: number;
  body: Buffer;
}

export function encodeFrame(type: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  h.writeUInt16LE(PROTOCOL_VERSION, 4);
  h.writeUInt16LE(type, 6);
  h.writeUInt32LE(body.length, 8);
  return Buffer.concat([h, body]);
}

const blob = (b: Buffer): Buffer => {
  const n = Buffer.alloc(4);
  n.writeUInt32LE(b.length);
  return Buffer.concat([n, b]);
};

export function encodeResult(status: number, stdout: Buffer, stderr: Buffer): Buffer {
  const s = Buffer.alloc(4);
  s.writeInt32LE(status);
  return encodeFrame(FrameType.result, Buffer.concat([s, blob(stdout), blob(stderr)]));
}

export function encodeError(message: string): Buffer {
  return encodeFrame(FrameType.error, blob(Buffer.from(message, 'utf8')));
}

/** The client runs the Node CLI itself: the service would not see what the caller sees. */
export function encodeDecline(reason: string): Buffer {
  return encodeFrame(FrameType.decline, blob(Buffer.from(reason, 'utf8')));
}

function malformed(what: string): NvcError {
  return new NvcError('ERR_NVC_INVALID_ARGUMENT', `malformed request: ${what}`, {
    field: 'request',
    hint: `speak protocol version ${PROTOCOL_VERSION} of native/client/protocol.h (use the nvc-ts-cli of the same package)`,
  });
}

/** Frames from a byte stream, each checked against the client-side bounds before its body is kept. */
export class FrameReader {
  #pending: Buffer[] = [];
  #length = 0;

  /** Adds bytes; returns the frames now complete. Throws on a frame no client of ours sends. */
  push(chunk: Buffer): Frame[] {
    this.#pending.push(chunk);
    this.#length += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.#length < HEADER_BYTES) return frames;
      const all = this.#pending.length === 1 ? (this.#pending[0] as Buffer) : Buffer.concat(this.#pending, this.#length);
      if (!all.subarray(0, 4).equals(MAGIC)) throw malformed('not an nvc-ts frame (bad magic)');
      const version = all.readUInt16LE(4);
      if (version !== PROTOCOL_VERSION) throw malformed(`protocol version ${version}, this service speaks ${PROTOCOL_VERSION}`);
      const type = all.readUInt16LE(6);
      const length = all.readUInt32LE(8);
      const max = CLIENT_BODY_MAX[type];
      if (max === undefined) throw malformed(`frame type ${type} is not one a client sends`);
      if (length > max) throw malformed(`frame type ${type} of ${length} bytes is over its bound of ${max}`);
      if (all.length < HEADER_BYTES + length) {
        this.#pending = [all];
        return frames;
      }
      frames.push({ type, body: Buffer.from(all.subarray(HEADER_BYTES, HEADER_BYTES + length)) });
      const rest = all.subarray(HEADER_BYTES + length);
      this.#pending = rest.length > 0 ? [rest] : [];
      this.#length = rest.length;
    }
  }
}

class BodyReader {
  #at = 0;
  constructor(private readonly body: Buffer) {}
  u8(what: string): number {
    if (this.#at + 1 > this.body.length) throw malformed(`${what} is cut short`);
    return this.body.readUInt8(this.#at++);
  }
  u32(what: string): number {
    if (this.#at + 4 > this.body.length) throw malformed(`${what} is cut short`);
    const v = this.body.readUInt32LE(this.#at);
    this.#at += 4;
    return v;
  }
  bytes(what: string): Buffer {
    const n = this.u32(what);
    if (n > this.body.length - this.#at) throw malformed(`${what} says ${n} bytes, ${this.body.length - this.#at} are left`);
    const b = this.body.subarray(this.#at, this.#at + n);
    this.#at += n;
    return b;
  }
  text(what: string): string {
    const b = this.bytes(what);
    const s = b.toString('utf8');
    if (!Buffer.from(s, 'utf8').equals(b)) throw malformed(`${what} is not UTF-8`);
    return s;
  }
  done(): void {
    if (this.#at !== this.body.length) throw malformed(`${this.body.length - this.#at} bytes after the last field`);
  }
}

const ARGS_MAX = 4096;
/** The variables a client sends (native/client/client.c, env_sent). */
const SENT_ENV = /^(NVC_TS_[A-Z0-9_]*|PATH|CUDA_MPS_PIPE_DIRECTORY)=/;
const ENV_MAX = 256;

export const requestSchema = z.object({
  cwd: z
    .string()
    .max(4096)
    .refine((s) => s === '' || s.startsWith('/'), 'cwd must be absolute'),
  argv: z
    .array(
      z
        .string()
        .max(65536)
        .refine((s) => !s.includes('\0'), 'no NUL in arguments'),
    )
    .max(ARGS_MAX),
  env: z.array(z.string().regex(SENT_ENV, 'only NVC_TS_*, PATH and CUDA_MPS_PIPE_DIRECTORY').max(65536)).max(ENV_MAX),
});

export type ClientRequest = z.infer<typeof requestSchema>;

export function decodeRequest(body: Buffer): ClientRequest {
  const r = new BodyReader(body);
  const cwd = r.text('cwd');
  const argc = r.u32('argc');
  if (argc > ARGS_MAX) throw malformed(`${argc} arguments (at most ${ARGS_MAX})`);
  const argv: string[] = [];
  for (let i = 0; i < argc; i++) argv.push(r.text(`argument ${i}`));
  const envc = r.u32('envc');
  if (envc > ENV_MAX) throw malformed(`${envc} environment variables (at most ${ENV_MAX})`);
  const env: string[] = [];
  for (let i = 0; i < envc; i++) env.push(r.text(`environment variable ${i}`));
  r.done();
  const parsed = requestSchema.safeParse({ cwd, argv, env });
  if (!parsed.success) throw malformed(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return parsed.data;
}

export function decodeStdin(body: Buffer): { isTTY: boolean; data: Buffer } {
  const r = new BodyReader(body);
  const tty = r.u8('terminal flag');
  const data = r.bytes('stdin');
  r.done();
  if (tty > 1) throw malformed('terminal flag is neither 0 nor 1');
  if (data.length > STDIN_MAX_BYTES + 1) throw malformed(`stdin of ${data.length} bytes`);
  return { isTTY: tty === 1, data };
}
