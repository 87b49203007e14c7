// Keeps secrets out of what Lifeboat shows: the password of any URL in a text (config values, error messages).

/** `scheme://user:password@host` anywhere in `text`, with the password replaced by "redacted". */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)([^\s/?#]*)@/gi;

export function redactUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, (_match, head: string, password: string) =>
    password === '' ? `${head}@` : `${head}redacted@`,
  );
}
