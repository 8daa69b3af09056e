/**
 * The PostgreSQL the tests use: `EFFECT_RENEWAL_PG_URL`, by default the local
 * one (trust auth, database `test`). Under `CI=true` its tests run, and fail
 * if it is unreachable; elsewhere they are skipped with a message.
 */
import { connect } from "node:net"

export const url = process.env["EFFECT_RENEWAL_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test"

const reachable = (): Promise<boolean> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url)
    const socket = connect({ host: hostname, port: Number(port || 5432) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(2000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })

/** Whether the PostgreSQL tests are skipped: only outside CI, when the database is unreachable. */
export const skip: boolean = process.env["CI"] !== "true" && !(await reachable())

if (skip) {
  console.warn(`PostgreSQL at ${new URL(url).host} is unreachable: its tests are skipped (under CI=true they fail)`)
}
