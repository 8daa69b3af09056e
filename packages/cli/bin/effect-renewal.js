#!/usr/bin/env node
// The command is one bundle (scripts/bundle.mjs): loading it is the whole start-up.
import "../dist/bundle/effect-renewal.mjs"
