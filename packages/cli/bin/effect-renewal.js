#!/usr/bin/env node
// The command is one bundle, run by its launcher (scripts/bundle.mjs, scripts/launcher.mjs).
import "../dist/bundle/effect-renewal.mjs"
