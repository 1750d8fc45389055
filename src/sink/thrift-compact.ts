/**
 * Thrift's compact protocol, read into a generic tree and written back as it was: enough to
 * take a Parquet footer apart and put it together with some column chunks replaced
 * (constant-columns.ts), without a schema of Parquet's own structs. Field order, types and
 * unknown fields survive a round trip unchanged.
 */

export const T = {
  TRUE: 1,
  FALSE: 2,
  BYTE: 3,
  I16: 4,
  I32: 5,
  I64: 6,
  DOUBLE: 7,
  BINARY: 8,
  LIST: 9,
  SET: 10,
  MAP: 11,
  STRUCT: 12,
} as const;

export type TValue = boolean | number | bigint | Uint8Array | TStruct | TList | TMap;
export interface TField {
  readonly id: number;
  /** The compact type code; for a boolean field, TRUE or FALSE as written. */
  type: number;
  value: TValue;
}
export interface TStruct {
  readonly fields: TField[];
}
export interface TList {
  readonly elemType: number;
  readonly items: TValue[];
  /** SET rather than LIST. */
  readonly set?: boolean;
}
export interface TMap {
  readonly keyType: number;
  readonly valueType: number;
  readonly entries: [TValue, TValue][];
}

class Reader {
  pos: number;
  constructor(
    private readonly bytes: Uint8Array,
    start: number,
  ) {
    this.pos = start;
  }

  private byte(): number {
    if (this.pos >= this.bytes.length) throw new Error('thrift: the data ends inside a value');
    return this.bytes[this.pos++]!;
  }

  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 70n) throw new Error('thrift: a varint runs past 10 bytes');
    }
  }

  zigzag(): bigint {
    const v = this.varint();
    return (v >> 1n) ^ -(v & 1n);
  }

  value(type: number): TValue {
    switch (type) {
      case T.TRUE:
      case T.FALSE:
        // In a list or map a boolean is a byte of its own; some writers use 0 for false.
        return this.byte() === 1;
      case T.BYTE: {
        const b = this.byte();
        return b > 127 ? b - 256 : b;
      }
      case T.I16:
      case T.I32:
        return Number(this.zigzag());
      case T.I64:
        return BigInt.asIntN(64, this.zigzag());
      case T.DOUBLE: {
        const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.pos, 8);
        this.pos += 8;
        return view.getFloat64(0, true);
      }
      case T.BINARY: {
        const n = Number(this.varint());
        if (this.pos + n > this.bytes.length) throw new Error('thrift: the data ends inside a binary value');
        const out = this.bytes.slice(this.pos, this.pos + n);
        this.pos += n;
        return out;
      }
      case T.LIST:
      case T.SET: {
        const head = this.byte();
        const elemType = head & 0x0f;
        const size = head >> 4 === 0x0f ? Number(this.varint()) : head >> 4;
        const items: TValue[] = [];
        for (let i = 0; i < size; i++) items.push(this.value(elemType));
        return type === T.SET ? { elemType, items, set: true } : { elemType, items };
      }
      case T.MAP: {
        const size = Number(this.varint());
        const kv = size > 0 ? this.byte() : 0;
        const keyType = kv >> 4;
        const valueType = kv & 0x0f;
        const entries: [TValue, TValue][] = [];
        for (let i = 0; i < size; i++) entries.push([this.value(keyType), this.value(valueType)]);
        return { keyType, valueType, entries };
      }
      case T.STRUCT:
        return this.struct();
      default:
        throw new Error(`thrift: unknown compact type ${type}`);
    }
  }

  struct(): TStruct {
    const fields: TField[] = [];
    let last = 0;
    for (;;) {
      const head = this.byte();
      if (head === 0) return { fields };
      const type = head & 0x0f;
      const delta = head >> 4;
      const id = delta === 0 ? Number(this.zigzag()) : last + delta;
      last = id;
      const value = type === T.TRUE || type === T.FALSE ? type === T.TRUE : this.value(type);
      fields.push({ id, type, value });
    }
  }
}

/** A struct read from `bytes` at `start`, and the offset just past it. */
export function readStruct(bytes: Uint8Array, start = 0): { struct: TStruct; end: number } {
  const r = new Reader(bytes, start);
  const struct = r.struct();
  return { struct, end: r.pos };
}

class Writer {
  private buf = new Uint8Array(1024);
  length = 0;

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b & 0xff;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  varint(v: bigint): void {
    let x = BigInt.asUintN(64, v);
    do {
      let b = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) b |= 0x80;
      this.byte(b);
    } while (x > 0n);
  }

  zigzag(v: bigint): void {
    this.varint(BigInt.asUintN(64, (v << 1n) ^ (v >> 63n)));
  }

  value(type: number, v: TValue): void {
    switch (type) {
      case T.TRUE:
      case T.FALSE:
        this.byte(v ? 1 : 2);
        return;
      case T.BYTE:
        this.byte(v as number);
        return;
      case T.I16:
      case T.I32:
        this.zigzag(BigInt(v as number));
        return;
      case T.I64:
        this.zigzag(BigInt(v as bigint | number));
        return;
      case T.DOUBLE: {
        const b = new Uint8Array(8);
        new DataView(b.buffer).setFloat64(0, v as number, true);
        this.bytes(b);
        return;
      }
      case T.BINARY:
        this.varint(BigInt((v as Uint8Array).length));
        this.bytes(v as Uint8Array);
        return;
      case T.LIST:
      case T.SET: {
        const { elemType, items } = v as TList;
        if (items.length < 15) this.byte((items.length << 4) | elemType);
        else {
          this.byte(0xf0 | elemType);
          this.varint(BigInt(items.length));
        }
        for (const item of items) this.value(elemType, item);
        return;
      }
      case T.MAP: {
        const { keyType, valueType, entries } = v as TMap;
        this.varint(BigInt(entries.length));
        if (entries.length > 0) this.byte((keyType << 4) | valueType);
        for (const [k, val] of entries) {
          this.value(keyType, k);
          this.value(valueType, val);
        }
        return;
      }
      case T.STRUCT:
        this.struct(v as TStruct);
        return;
      default:
        throw new Error(`thrift: unknown compact type ${type}`);
    }
  }

  struct(s: TStruct): void {
    let last = 0;
    for (const f of s.fields) {
      const boolean = f.type === T.TRUE || f.type === T.FALSE;
      const type = boolean ? (f.value ? T.TRUE : T.FALSE) : f.type;
      const delta = f.id - last;
      if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
      else {
        this.byte(type);
        this.zigzag(BigInt(f.id));
      }
      last = f.id;
      if (!boolean) this.value(f.type, f.value);
    }
    this.byte(0);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** A struct in the compact protocol. */
export function writeStruct(s: TStruct): Uint8Array {
  const w = new Writer();
  w.struct(s);
  return w.result();
}

/** The value of field `id`, or undefined. */
export function field<V extends TValue>(s: TStruct, id: number): V | undefined {
  return s.fields.find((f) => f.id === id)?.value as V | undefined;
}

/** A struct from [id, type, value] triples, in field-id order. */
export function struct(...fields: [number, number, TValue | undefined][]): TStruct {
  return {
    fields: fields
      .filter((f): f is [number, number, TValue] => f[2] !== undefined)
      .sort((a, b) => a[0] - b[0])
      .map(([id, type, value]) => ({ id, type, value })),
  };
}
