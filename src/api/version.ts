/** The package version, as the engine reports it (one reading of package.json). */
export { VERSION } from "../engine/version.js";
