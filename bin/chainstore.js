#!/usr/bin/env node
// In a source checkout (src/ beside bin/) the CLI runs from the TypeScript
// sources: Node >= 22.18 strips types natively. An installed package ships no
// src/ (Node refuses to strip types under node_modules) and runs the built dist/.
import { existsSync } from 'node:fs'

const source = new URL('../src/cli/main.ts', import.meta.url)
await import(existsSync(source) ? source.href : new URL('../dist/cli/main.js', import.meta.url).href)
