import { defineConfig } from "tsup";
import { baseConfig } from "../tsup.config.base";

// Two entries: the library (main, the command types) and the `upkeep` executable, whose
// `#!/usr/bin/env node` line tsup keeps (and marks the file executable).
export default defineConfig(baseConfig({ entry: ["src/index.ts", "src/bin.ts"] }));
