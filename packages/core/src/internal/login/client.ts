/**
 * What the login needs of the `AuthenticationClient`: its metadata, a token
 * request for any grant and a form request to an endpoint of the metadata,
 * each carrying the client's authentication.
 *
 * @internal
 */
import type * as AuthenticationClient from "../../AuthenticationClient.js"

/** @internal */
export type Metadata = AuthenticationClient.Metadata

/** @internal */
export type Client = Pick<
  AuthenticationClient.AuthenticationClient.Service,
  "clientId" | "metadata" | "tokenRequest" | "formRequest"
>
