import * as path from "node:path"
import type { TestProjectConfiguration } from "vitest/config"

const alias = {
  "@effect-renewal/core": path.join(__dirname, "packages/core/src"),
  "@effect-renewal/sql": path.join(__dirname, "packages/sql/src"),
  "@effect-renewal/testing": path.join(__dirname, "packages/testing/src"),
  "@effect-renewal/cli": path.join(__dirname, "packages/cli/src"),
  "@effect-renewal/web": path.join(__dirname, "packages/web/src")
}

const project = (name: string): TestProjectConfiguration => ({
  resolve: { alias },
  test: {
    name,
    root: path.join(__dirname, "packages", name),
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000
  }
})

export default [project("core"), project("testing"), project("demo"), project("sql"), project("cli"), project("web")]
