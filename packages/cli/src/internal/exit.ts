import * as Data from "effect/Data"

/** Ends the command with `code`, its message already printed (or none needed). */
export class ExitWith extends Data.TaggedError("ExitWith")<{ readonly code: number }> {}
