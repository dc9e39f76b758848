/**
 * safetensors I/O: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {...}}`, then the raw bytes.
 * Reads F32, F16, BF16 (widened to float32); writes F32 or BF16 (from float32, or bf16 bits kept as
 * they are: a Uint16Array's tensor is written BF16 whatever the dtype option). Sharded checkpoints use
 * `model.safetensors.index.json` (`{metadata: {total_size}, weight_map: {name: file}}`).
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from "node:fs";
import { basename, join } from "node:path";
import { UserError } from "../util/errors.ts";
import { bf16ToF32, f16ToF32, f32ToBf16 } from "./dtype.ts";
import type { Tensor } from "./model.ts";

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

const bytesPerValue: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

/** Reads every tensor of one .safetensors file into float32. */
export function readSafetensors(path: string): {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
} {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw new UserError(`cannot open: ${(err as Error).message}`, { file: path });
  }
  try {
    const lenBuf = Buffer.alloc(8);
    if (readSync(fd, lenBuf, 0, 8, 0) !== 8)
      throw new UserError("file too short for a safetensors header", { file: path });
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen > 100_000_000)
      throw new UserError(`header length ${headerLen} is not plausible`, { file: path });
    const headerBuf = Buffer.alloc(headerLen);
    readSync(fd, headerBuf, 0, headerLen, 8);
    let header: Record<string, HeaderEntry | Record<string, string>>;
    try {
      header = JSON.parse(headerBuf.toString("utf8"));
    } catch {
      throw new UserError("safetensors header is not valid JSON", { file: path });
    }
    const dataStart = 8 + headerLen;
    const tensors = new Map<string, Tensor>();
    let metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(header)) {
      if (name === "__metadata__") {
        metadata = value as Record<string, string>;
        continue;
      }
      const e = value as HeaderEntry;
      const width = bytesPerValue[e.dtype];
      if (!width) throw new UserError(`tensor "${name}" has unsupported dtype ${e.dtype}`, { file: path });
      const [begin, end] = e.data_offsets;
      const count = e.shape.reduce((a, b) => a * b, 1);
      if (end - begin !== count * width) {
        throw new UserError(`tensor "${name}": byte range does not match shape [${e.shape}]`, { file: path });
      }
      // Read into an aligned buffer so typed-array views are valid.
      const raw = new ArrayBuffer(end - begin);
      const got = readSync(fd, new Uint8Array(raw), 0, end - begin, dataStart + begin);
      if (got !== end - begin) throw new UserError(`tensor "${name}" is truncated`, { file: path });
      let data: Float32Array;
      if (e.dtype === "F32") data = new Float32Array(raw);
      else if (e.dtype === "BF16") data = bf16ToF32(new Uint16Array(raw));
      else data = f16ToF32(new Uint16Array(raw));
      tensors.set(name, { shape: e.shape.slice(), data });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

export type SaveDtype = "F32" | "BF16";

/** A tensor to write: float32 values, or bfloat16 bits. */
export interface WritableTensor {
  shape: number[];
  data: Float32Array | Uint16Array;
}

function tensorDtype(t: WritableTensor, asked: SaveDtype): SaveDtype {
  return t.data instanceof Uint16Array ? "BF16" : asked;
}

/** Writes tensors (sorted by name, as the Python library does) to one .safetensors file. */
export function writeSafetensors(
  path: string,
  tensors: Map<string, WritableTensor>,
  opts: { dtype?: SaveDtype; metadata?: Record<string, string> } = {},
): number {
  const asked = opts.dtype ?? "F32";
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: { format: "pt", ...opts.metadata } };
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const dtype = tensorDtype(t, asked);
    const bytes = t.data.length * bytesPerValue[dtype]!;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned (what the reference writer does).
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(headerBytes.length));
  const fd = openSync(path, "w");
  try {
    writeSync(fd, lenBuf);
    writeSync(fd, headerBytes);
    for (const name of names) {
      const t = tensors.get(name)!;
      const arr = t.data instanceof Uint16Array || asked === "F32" ? t.data : f32ToBf16(t.data);
      writeSync(fd, new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength));
    }
  } finally {
    closeSync(fd);
  }
  return offset;
}

export const singleFileName = "model.safetensors";
export const indexFileName = "model.safetensors.index.json";

/** Reads `model.safetensors`, or every shard named by `model.safetensors.index.json`, from a folder. */
export function readSafetensorsFolder(dir: string): Map<string, Tensor> {
  const single = join(dir, singleFileName);
  const index = join(dir, indexFileName);
  if (existsSync(single)) return readSafetensors(single).tensors;
  if (!existsSync(index)) throw new UserError(`no ${singleFileName} or ${indexFileName}`, { file: dir });
  let weightMap: Record<string, string>;
  try {
    weightMap = JSON.parse(readFileSync(index, "utf8")).weight_map;
  } catch (err) {
    throw new UserError(`cannot read index: ${(err as Error).message}`, { file: index });
  }
  if (!weightMap || typeof weightMap !== "object") throw new UserError("no weight_map", { file: index });
  for (const [name, shard] of Object.entries(weightMap))
    if (typeof shard !== "string" || shard !== basename(shard) || !shard.endsWith(".safetensors"))
      throw new UserError(
        `tensor "${name}" names ${JSON.stringify(shard)}, not a .safetensors file of this folder`,
        {
          file: index,
          field: "weight_map",
        },
      );
  const out = new Map<string, Tensor>();
  for (const shard of new Set(Object.values(weightMap))) {
    for (const [name, t] of readSafetensors(join(dir, shard)).tensors) out.set(name, t);
  }
  for (const name of Object.keys(weightMap)) {
    if (!out.has(name))
      throw new UserError(`tensor "${name}" listed in the index is missing from its shard`, { file: index });
  }
  return out;
}

/**
 * Writes `model.safetensors`, or shards `model-0000i-of-0000n.safetensors` plus the index when the total
 * exceeds `maxShardBytes`. Returns the file names written.
 */
export function writeSafetensorsFolder(
  dir: string,
  tensors: Map<string, Tensor>,
  opts: { dtype?: SaveDtype; maxShardBytes?: number } = {},
): string[] {
  const width = bytesPerValue[opts.dtype ?? "F32"];
  const names = [...tensors.keys()].sort();
  const maxShard = opts.maxShardBytes ?? 5e9;
  const shards: string[][] = [[]];
  let current = 0;
  let total = 0;
  for (const name of names) {
    const bytes = tensors.get(name)!.data.length * width;
    if (current > 0 && current + bytes > maxShard) {
      shards.push([]);
      current = 0;
    }
    shards[shards.length - 1].push(name);
    current += bytes;
    total += bytes;
  }
  if (shards.length === 1) {
    writeSafetensors(join(dir, singleFileName), tensors, opts);
    return [singleFileName];
  }
  const pad = (n: number) => String(n).padStart(5, "0");
  const weightMap: Record<string, string> = {};
  const files: string[] = [];
  shards.forEach((shardNames, i) => {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    writeSafetensors(join(dir, file), new Map(shardNames.map((n) => [n, tensors.get(n)!])), opts);
    for (const n of shardNames) weightMap[n] = file;
    files.push(file);
  });
  writeFileSync(
    join(dir, indexFileName),
    `${JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2)}\n`,
  );
  return [...files, indexFileName];
}
