// Raw buffers shared with JavaScript.
//
// The host writes samples straight into WebAssembly memory and reads results from it, so
// every kernel takes plain pointers. These blocks come from the runtime's TLSF allocator
// (16-byte aligned, which v128 loads want) and are never touched by the garbage collector.

/** Allocates `bytes` of uninitialised memory; the host must `free` it. */
export function alloc(bytes: usize): usize {
  return heap.alloc(bytes);
}

/** Releases a block obtained from `alloc`. */
export function free(ptr: usize): void {
  heap.free(ptr);
}
