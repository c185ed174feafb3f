/** Builders of small data files for the data tests. */

/** Builds an IDX file of unsigned bytes: 0, 0, 0x08, ndims, big-endian dims, data. */
export function idxBytes(dims: number[], data: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, k) => header.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([header, Buffer.from(Uint8Array.from(data))]);
}
