/** An unsigned integer as a base-128 varint (protobuf's and Thrift's compact protocol's), low group first. */
export function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
