import { describe, expect, it } from "@effect/vitest"
import * as Scope from "../../src/internal/scope.js"

describe("internal/scope", () => {
  it("reads a scope as a set of names", () => {
    expect(Scope.names("  openid  email openid ")).toEqual(["openid", "email"])
    expect(Scope.normalize(" email\topenid email ")).toBe("email openid")
    expect(Scope.normalize("   ")).toBeUndefined()
    expect(Scope.key("email openid")).toBe(Scope.key("openid  email"))
    expect(Scope.key(undefined)).toBe("")
    expect(Scope.same("openid email", "email openid openid")).toBe(true)
    expect(Scope.same("openid", "openid email")).toBe(false)
    expect(Scope.same(undefined, "")).toBe(true)
  })
})
