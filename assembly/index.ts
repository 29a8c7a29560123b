// The sonotile DSP core: everything that touches samples runs here, behind plain-pointer
// entry points that the TypeScript engine façade (src/engine) drives.
export * from "./memory";
export { windowFill, windowFillF64 } from "./window";
export { sosFiltFilt } from "./filter";
export { resamplePoly } from "./resample";
export { colorIndex } from "./colormap";
export { fftCreate, fftForward, fftDestroy } from "./fft";
export { stftCreate, stftDestroy, stftPower, stftHasColumns, stftPowerColumns, samplesFinite } from "./stft";
export { pcenInitState, pcenApply, pcenColumns } from "./pcen";
export { scaleValues, scaleColumns, scaleTranspose } from "./amplitude";
export { poolMax } from "./tile";
export { featurePlanCreate, featureFrames, featureSums, featureSpectrumEdges, featurePlanDestroy, sampleSums } from "./features";
