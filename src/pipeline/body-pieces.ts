/**
 * One request body as it arrives, holding no more than has arrived plus one small block.
 *
 * node:http hands over each chunk in a buffer of its own, exactly its size, so a chunk is
 * kept as it is (no copy) and joined once at the end — and a body that arrives in one chunk,
 * as most payment requests do, is that chunk, never copied at all. Small chunks after the
 * first are copied into blocks instead: a body trickled in in bytes must not become a
 * million buffers, each with far more bookkeeping than payload. Nothing is sized from the
 * declared Content-Length until bytes arrive: preallocating it let idle clients reserve
 * memory they never sent.
 */
import type { BodyLease } from "./body-budget.js";

/** A chunk smaller than this (after the first) is copied into a block rather than kept. */
const SMALL_CHUNK = 4 * 1024;
/** A block's size: the most reserved ahead of the bytes that fill it. */
const BLOCK = 16 * 1024;

export interface BodyPieces {
  /** bytes arrived so far */
  readonly size: number;
  /** adds a chunk, reserving its memory on the lease first; false when the lease refuses (the body is then abandoned) */
  add(chunk: Buffer): boolean;
  /** the whole body as one buffer; the lease is trimmed to its size */
  join(): Buffer;
}

/**
 * The pieces of one body that will hold at most `most` bytes (its declared length, or the
 * size limit), reserved on `lease` as they come.
 */
export function bodyPieces(lease: BodyLease, most: number): BodyPieces {
  const kept: Buffer[] = [];
  let size = 0;
  let block: Buffer | undefined; // the last of `kept` while it is being filled
  let used = 0;

  /** Closes the block being filled: from now on `kept` holds only its filled part. */
  const closeBlock = () => {
    if (block) kept[kept.length - 1] = block.subarray(0, used);
    block = undefined;
  };

  /** Copies a small chunk into blocks, taking a new block from the lease when one is full. */
  const copyIn = (chunk: Buffer): boolean => {
    let offset = 0;
    while (offset < chunk.length) {
      if (!block || used === block.length) {
        const capacity = blockFor(lease, chunk.length - offset, most - size - offset);
        if (capacity === 0) return false;
        closeBlock();
        // Its own memory, not a slice of the shared pool: what the lease counts is what is held.
        block = Buffer.allocUnsafeSlow(capacity);
        used = 0;
        kept.push(block);
      }
      const copied = chunk.copy(block, used, offset);
      used += copied;
      offset += copied;
    }
    return true;
  };

  return {
    get size() {
      return size;
    },
    add(chunk) {
      if (kept.length > 0 && chunk.length < SMALL_CHUNK) {
        if (!copyIn(chunk)) return false;
      } else {
        if (!lease.take(chunk.length)) return false;
        closeBlock();
        kept.push(chunk);
      }
      size += chunk.length;
      return true;
    },
    join() {
      closeBlock();
      if (kept.length === 1) return kept[0] as Buffer;
      const body = Buffer.concat(kept, size);
      kept.length = 0;
      lease.keep(size);
      return body;
    },
  };
}

/**
 * Reserves a block for `left` bytes of a chunk: a whole block, never more than the body can
 * still bring (`most` ≥ `left`), or — near the bound — just those bytes, so a body is refused
 * only when its bytes themselves do not fit. 0 when not even they do.
 */
function blockFor(lease: BodyLease, left: number, most: number): number {
  const capacity = Math.min(BLOCK, most);
  if (lease.take(capacity)) return capacity;
  return capacity > left && lease.take(left) ? left : 0;
}
