/**
 * Keeps glibc malloc from handing freed memory back to the kernel after every garbage collection.
 *
 * Each socket read gets a new 64 KiB buffer from malloc, and V8 frees those buffers in bursts
 * when it collects them (every few tens of MB of relayed data). With glibc's default
 * M_TRIM_THRESHOLD of 128 KiB, each burst leaves a free top of heap that free() returns to the
 * kernel, and the next reads fault the same pages back in: relaying 2 GiB through tcppm cost
 * ~460,000 minor page faults and 10 s of system time, at ~180 MB/s. Whether a process falls into
 * that cycle depends on where its live allocations happen to sit, so the same build ran at 180
 * or 700 MB/s from one run to the next (node-pipe too: 130 to 720 MB/s in one bench run).
 *
 * mallopt() cannot be called from JavaScript, but glibc raises both thresholds on its own when
 * an mmapped chunk is freed (mallopt(3), "dynamic mmap threshold"): M_MMAP_THRESHOLD becomes the
 * chunk's size and M_TRIM_THRESHOLD twice that. Freeing one buffer of half the wanted trim
 * threshold sets them, and from then on up to that much free memory stays mapped for reuse. With
 * 32 MB: ~1,500 faults and 2 s of system time for the same 2 GiB, at ~660 MB/s, and the process
 * RSS after the transfer within about 10 MB of the untuned one.
 */
import { report } from 'node:process';

/** glibc's cap on the dynamic mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB). */
const MAX_CHUNK = 32 * 1024 * 1024;
/** Headroom so that the chunk, with malloc's header and page rounding, stays under that cap. */
const SLACK = 64 * 1024;
/** Below this the default behaviour is kept (glibc's own trim threshold is 128 KiB). */
export const MIN_MALLOC_TRIM_THRESHOLD = 1024 * 1024;
/** Twice the largest chunk: the most glibc's dynamic threshold can reach. */
export const MAX_MALLOC_TRIM_THRESHOLD = 2 * MAX_CHUNK;

/**
 * 64 MiB, glibc's largest: with 32 MiB a transfer under CPU contention (a busy test machine) still
 * fell into the cycle (78,000 faults for 512 MB in one of three runs), with 64 MiB it did not.
 */
export const DEFAULT_MALLOC_TRIM_THRESHOLD = 64 * 1024 * 1024;

let applied = false;

/** True when this process runs on glibc (musl and other libcs trim differently: left alone). */
export function runsOnGlibc(): boolean {
  if (process.platform !== 'linux') return false;
  // excludeNetwork (Node >= 20.13, not in our @types yet): without it the report looks up the
  // names of open sockets' endpoints, which can stall on an unreachable DNS server.
  const r = report as typeof report & { excludeNetwork: boolean };
  const exclude = r.excludeNetwork;
  r.excludeNetwork = true;
  try {
    const header = (r.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
    return typeof header?.glibcVersionRuntime === 'string';
  } finally {
    r.excludeNetwork = exclude;
  }
}

/**
 * Raises glibc's trim threshold to about `bytes` (at most 64 MiB; 0 keeps glibc's default). Once
 * per process: the first call decides. Returns the chunk size used, or 0 when nothing was done.
 */
export function retainFreedMemory(bytes: number): number {
  if (applied || bytes < MIN_MALLOC_TRIM_THRESHOLD || !runsOnGlibc()) return 0;
  applied = true;
  const chunk = Math.min(Math.floor(bytes / 2), MAX_CHUNK) - SLACK;
  // allocUnsafeSlow: its own malloc'd (hence mmapped, at this size) backing store, not the pool.
  // It is freed when V8 next collects it; glibc adjusts its thresholds in that free().
  const block = Buffer.allocUnsafeSlow(chunk);
  block[0] = 0;
  return chunk;
}
