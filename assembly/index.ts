// The sonotile DSP core: everything that touches samples runs here, behind plain-pointer
// entry points that the TypeScript engine façade (src/engine) drives.
export * from "./memory";
export { windowFill } from "./window";
export { sosFiltFilt } from "./filter";
export { colorIndex } from "./colormap";
