/**
 * The GGUF container as ggml defines it (version 3, little-endian):
 *   header: magic "GGUF", u32 version, u64 tensor_count, u64 kv_count
 *   kv pairs: string key, u32 value type, value (arrays: u32 element type, u64 count, elements)
 *   tensor infos: string name, u32 n_dims, u64 ne[n_dims] (ne[0] = the contiguous dimension, i.e. the
 *     reverse of a row-major shape), u32 ggml type, u64 offset into the data section
 *   padding to `general.alignment` (default 32), then tensor data, each tensor aligned.
 * Strings are a u64 byte length then UTF-8 bytes without a terminator.
 */
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { UserError } from "../util/errors.ts";
import { f16ToF32, f32ToF16 } from "./dtype.ts";

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types (gguf_type). */
export const GgufType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufTypeId = (typeof GgufType)[keyof typeof GgufType];

/** Tensor element types this project writes and reads (ggml_type). */
export const GgmlType = { F32: 0, F16: 1 } as const;
export type GgmlTypeId = (typeof GgmlType)[keyof typeof GgmlType];

export type GgufScalar = number | bigint | boolean | string;
export type GgufValue = GgufScalar | GgufScalar[];

export interface GgufKv {
  key: string;
  type: GgufTypeId;
  /** For arrays, the element type. */
  itemType?: GgufTypeId;
  value: GgufValue;
}

/** Typed constructors, so callers say which integer width a key has. */
export const kv = {
  u32: (key: string, value: number): GgufKv => ({ key, type: GgufType.UINT32, value }),
  i32: (key: string, value: number): GgufKv => ({ key, type: GgufType.INT32, value }),
  f32: (key: string, value: number): GgufKv => ({ key, type: GgufType.FLOAT32, value }),
  bool: (key: string, value: boolean): GgufKv => ({ key, type: GgufType.BOOL, value }),
  str: (key: string, value: string): GgufKv => ({ key, type: GgufType.STRING, value }),
  strs: (key: string, value: string[]): GgufKv => ({
    key,
    type: GgufType.ARRAY,
    itemType: GgufType.STRING,
    value,
  }),
  i32s: (key: string, value: number[]): GgufKv => ({
    key,
    type: GgufType.ARRAY,
    itemType: GgufType.INT32,
    value,
  }),
};

export interface GgufTensorIn {
  name: string;
  /** Row-major shape as in PyTorch/HF, e.g. [out, in]; written reversed as GGUF's ne. */
  shape: number[];
  data: Float32Array;
  type: GgmlTypeId;
}

/** A growable little-endian byte buffer for the header part of the file. */
class ByteWriter {
  buf = Buffer.alloc(1 << 16);
  pos = 0;
  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number) {
    this.ensure(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
  }
  u32(v: number) {
    this.ensure(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }
  u64(v: number | bigint) {
    this.ensure(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.pos);
    this.pos += 8;
  }
  str(s: string) {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.ensure(bytes.length);
    bytes.copy(this.buf, this.pos);
    this.pos += bytes.length;
  }
  scalar(type: GgufTypeId, v: GgufScalar) {
    this.ensure(8);
    const b = this.buf;
    switch (type) {
      case GgufType.UINT8:
        b.writeUInt8(Number(v), this.pos);
        this.pos += 1;
        return;
      case GgufType.INT8:
        b.writeInt8(Number(v), this.pos);
        this.pos += 1;
        return;
      case GgufType.UINT16:
        b.writeUInt16LE(Number(v), this.pos);
        this.pos += 2;
        return;
      case GgufType.INT16:
        b.writeInt16LE(Number(v), this.pos);
        this.pos += 2;
        return;
      case GgufType.UINT32:
        b.writeUInt32LE(Number(v), this.pos);
        this.pos += 4;
        return;
      case GgufType.INT32:
        b.writeInt32LE(Number(v), this.pos);
        this.pos += 4;
        return;
      case GgufType.FLOAT32:
        b.writeFloatLE(Number(v), this.pos);
        this.pos += 4;
        return;
      case GgufType.BOOL:
        b.writeUInt8(v ? 1 : 0, this.pos);
        this.pos += 1;
        return;
      case GgufType.STRING:
        this.str(String(v));
        return;
      case GgufType.UINT64:
        b.writeBigUInt64LE(BigInt(v), this.pos);
        this.pos += 8;
        return;
      case GgufType.INT64:
        b.writeBigInt64LE(BigInt(v), this.pos);
        this.pos += 8;
        return;
      case GgufType.FLOAT64:
        b.writeDoubleLE(Number(v), this.pos);
        this.pos += 8;
        return;
      default:
        throw new Error(`cannot write GGUF value type ${type}`);
    }
  }
  pad(alignment: number) {
    while (this.pos % alignment !== 0) this.u8(0);
  }
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** Writes a GGUF file. Returns its size in bytes. */
export function writeGguf(
  path: string,
  kvs: GgufKv[],
  tensors: GgufTensorIn[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): number {
  const w = new ByteWriter();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(tensors.length);
  w.u64(kvs.length);
  for (const e of kvs) {
    w.str(e.key);
    w.u32(e.type);
    if (e.type === GgufType.ARRAY) {
      const items = e.value as GgufScalar[];
      w.u32(e.itemType!);
      w.u64(items.length);
      for (const item of items) w.scalar(e.itemType!, item);
    } else w.scalar(e.type, e.value as GgufScalar);
  }
  const payloads = tensors.map((t) => {
    const arr = t.type === GgmlType.F16 ? f32ToF16(t.data) : t.data;
    return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  });
  let offset = 0;
  tensors.forEach((t, i) => {
    w.str(t.name);
    w.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) w.u64(t.shape[d]);
    w.u32(t.type);
    w.u64(offset);
    offset = align(offset + payloads[i].length, alignment);
  });
  w.pad(alignment);
  const fd = openSync(path, "w");
  let size = 0;
  try {
    size += writeSync(fd, w.buf, 0, w.pos);
    const zeros = new Uint8Array(alignment);
    for (const p of payloads) {
      size += writeSync(fd, p);
      const pad = align(p.length, alignment) - p.length;
      if (pad) size += writeSync(fd, zeros, 0, pad);
    }
  } finally {
    closeSync(fd);
  }
  return size;
}

export interface GgufTensorInfo {
  name: string;
  /** Row-major shape (GGUF's ne reversed). */
  shape: number[];
  type: number;
  /** Absolute byte offset in the file. */
  offset: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  /** Reads one tensor (F32 or F16) into float32. */
  readTensor(name: string): Float32Array;
}

/** A cursor over a GGUF file's bytes (little-endian); `fail` names the file and the byte. */
class GgufCursor {
  pos = 0;
  constructor(
    readonly buf: Buffer,
    readonly path: string,
  ) {}

  fail(msg: string): never {
    throw new UserError(`${msg} (at byte ${this.pos})`, { file: this.path });
  }

  private take<T>(width: number, read: (at: number) => T): T {
    const v = read(this.pos);
    this.pos += width;
    return v;
  }

  u32(): number {
    return this.take(4, (at) => this.buf.readUInt32LE(at));
  }

  u64(): number {
    return Number(this.take(8, (at) => this.buf.readBigUInt64LE(at)));
  }

  str(): string {
    const n = this.u64();
    return this.take(n, (at) => this.buf.toString("utf8", at, at + n));
  }

  scalar(type: number): GgufScalar {
    const b = this.buf;
    switch (type) {
      case GgufType.UINT8:
        return this.take(1, (at) => b.readUInt8(at));
      case GgufType.INT8:
        return this.take(1, (at) => b.readInt8(at));
      case GgufType.UINT16:
        return this.take(2, (at) => b.readUInt16LE(at));
      case GgufType.INT16:
        return this.take(2, (at) => b.readInt16LE(at));
      case GgufType.UINT32:
        return this.u32();
      case GgufType.INT32:
        return this.take(4, (at) => b.readInt32LE(at));
      case GgufType.FLOAT32:
        return this.take(4, (at) => b.readFloatLE(at));
      case GgufType.BOOL:
        return this.take(1, (at) => b.readUInt8(at) !== 0);
      case GgufType.STRING:
        return this.str();
      case GgufType.UINT64:
        return this.take(8, (at) => b.readBigUInt64LE(at));
      case GgufType.INT64:
        return this.take(8, (at) => b.readBigInt64LE(at));
      case GgufType.FLOAT64:
        return this.take(8, (at) => b.readDoubleLE(at));
      default:
        return this.fail(`unknown GGUF value type ${type}`);
    }
  }
}

/** Reads a whole GGUF file (meant for tests and inspection of small models). */
export function readGguf(path: string): GgufFile {
  const buf = readFileSync(path);
  const c = new GgufCursor(buf, path);
  if (buf.length < 24 || c.u32() !== GGUF_MAGIC) c.fail("not a GGUF file");
  const version = c.u32();
  if (version !== 3 && version !== 2) c.fail(`unsupported GGUF version ${version}`);
  const nTensors = c.u64();
  const nKv = c.u64();
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str();
    const type = c.u32();
    if (type === GgufType.ARRAY) {
      const itemType = c.u32();
      const n = c.u64();
      const items: GgufScalar[] = new Array(n);
      for (let j = 0; j < n; j++) items[j] = c.scalar(itemType);
      metadata.set(key, items);
    } else metadata.set(key, c.scalar(type));
  }
  const infos: GgufTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.str();
    const nDims = c.u32();
    const ne: number[] = [];
    for (let d = 0; d < nDims; d++) ne.push(c.u64());
    const type = c.u32();
    const offset = c.u64();
    infos.push({ name, shape: ne.reverse(), type, offset });
  }
  const alignment = Number(metadata.get("general.alignment") ?? GGUF_DEFAULT_ALIGNMENT);
  const dataStart = align(c.pos, alignment);
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of infos) tensors.set(t.name, { ...t, offset: dataStart + t.offset });
  return {
    version,
    metadata,
    tensors,
    readTensor(name: string): Float32Array {
      const t = tensors.get(name);
      if (!t) throw new UserError(`no tensor "${name}"`, { file: path });
      const n = t.shape.reduce((a, b) => a * b, 1);
      if (t.type === GgmlType.F32) {
        const out = new Float32Array(n);
        new Uint8Array(out.buffer).set(buf.subarray(t.offset, t.offset + 4 * n));
        return out;
      }
      if (t.type === GgmlType.F16) {
        const raw = new Uint16Array(n);
        new Uint8Array(raw.buffer).set(buf.subarray(t.offset, t.offset + 2 * n));
        return f16ToF32(raw);
      }
      throw new UserError(`tensor "${name}" has ggml type ${t.type}; only F32 and F16 are read`, {
        file: path,
      });
    },
  };
}
