/** Every form in which a secret may travel or be echoed: raw, URL-encoded, form-encoded, base64 (padded or not), base64url. */
export const forms = (secret: string): ReadonlyArray<string> => {
  const base64 = Buffer.from(secret).toString("base64")
  return [
    secret,
    encodeURIComponent(secret),
    new URLSearchParams({ s: secret }).toString().slice(2),
    base64,
    base64.replace(/=+$/, ""),
    Buffer.from(secret).toString("base64url")
  ]
}
