#!/usr/bin/env node
// The command is one bundle (scripts/bundle.mjs): loading it is the whole start-up.
import * as Module from "node:module"

// Node.js 22.1+: V8's code cache of the bundle, kept across runs (a no-op before)
Module.enableCompileCache?.()
await import("../dist/bundle/effect-renewal.mjs")
