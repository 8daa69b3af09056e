/**
 * The part of `oidc-provider` (9.x, which ships no types) that the tests use.
 * Add to it what a test needs; the configuration stays loosely typed, as
 * oidc-provider checks it itself when the Provider is constructed.
 */
declare module "oidc-provider" {
  import type { IncomingMessage, Server, ServerResponse } from "node:http"

  export interface ClientMetadata {
    readonly client_id: string
    readonly client_secret?: string
    readonly grant_types?: ReadonlyArray<string>
    readonly response_types?: ReadonlyArray<string>
    readonly redirect_uris?: ReadonlyArray<string>
    readonly token_endpoint_auth_method?: string
    readonly token_endpoint_auth_signing_alg?: string
    readonly jwks?: { readonly keys: ReadonlyArray<Record<string, unknown>> }
    readonly scope?: string
    readonly [key: string]: unknown
  }

  export interface Prompt {
    readonly name: string
    readonly reasons: ReadonlyArray<string>
    readonly details: Record<string, unknown>
  }

  export interface Interaction {
    readonly uid: string
    readonly prompt: Prompt
    readonly params: Record<string, unknown>
    readonly session?: { readonly accountId?: string } | undefined
    readonly grantId?: string | undefined
    readonly returnTo: string
  }

  export interface Grant {
    addOIDCScope(scope: string): void
    addOIDCClaims(claims: ReadonlyArray<string>): void
    addResourceScope(resource: string, scope: string): void
    save(): Promise<string>
  }

  export type Configuration = Record<string, unknown>

  export class Provider {
    constructor(issuer: string, configuration?: Configuration)
    readonly issuer: string
    proxy: boolean
    callback(): (req: IncomingMessage, res: ServerResponse) => void
    listen(...args: ReadonlyArray<unknown>): Server
    on(event: string, listener: (...args: ReadonlyArray<any>) => void): this
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<Interaction>
    interactionFinished(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { readonly mergeWithLastSubmission?: boolean }
    ): Promise<void>
    interactionResult(
      req: IncomingMessage,
      res: ServerResponse,
      result: Record<string, unknown>,
      options?: { readonly mergeWithLastSubmission?: boolean }
    ): Promise<string>
    readonly Grant: {
      new(properties: { readonly accountId: string; readonly clientId: string }): Grant
      find(id: string): Promise<Grant | undefined>
    }
  }

  export default Provider
}
