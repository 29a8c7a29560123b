// Minimal typings for the benchmark peers that ship none (only what bench/ uses).

declare module "fft.js" {
  /** fft.js radix-4 FFT of a power-of-two size (https://github.com/indutny/fft.js). */
  export default class FFT {
    constructor(size: number);
    /** Spectrum of real `input` into `out` (2·size values); fills bins 0 … size/2. */
    realTransform(out: ArrayLike<number> & { [i: number]: number }, input: ArrayLike<number>): void;
    createComplexArray(): number[];
  }
}

declare module "@echogarden/pffft-wasm/simd" {
  /** The emscripten module of PFFFT (https://bitbucket.org/jpommier/pffft), WASM SIMD build. */
  export interface PffftModule {
    HEAPF32: Float32Array;
    /** transform: 0 = PFFFT_REAL, 1 = PFFFT_COMPLEX. Returns 0 when N is not supported. */
    _pffft_new_setup(n: number, transform: number): number;
    _pffft_destroy_setup(setup: number): void;
    _pffft_aligned_malloc(bytes: number): number;
    _pffft_aligned_free(ptr: number): void;
    /** direction: 0 = PFFFT_FORWARD. Real forward output: [r0, r(N/2), re1, im1, …]. */
    _pffft_transform_ordered(setup: number, input: number, output: number, work: number, direction: number): void;
  }
  export default function createModule(): Promise<PffftModule>;
}
