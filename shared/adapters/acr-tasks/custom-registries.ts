/**
 * The `credentials.customRegistries` entries of ACR Tasks runs: how a build logs in to a registry other
 * than its own. Pure.
 */
import type { CustomRegistryCredentials, SecretObject } from "@azure/arm-containerregistry";

/** The `identity` of a credential read with the registry's system-assigned identity (`system`, as the SDK's `CustomRegistryCredentials` documents it). */
export const SYSTEM_IDENTITY = "system";

const KEY_VAULT_REFERENCE = /^@Microsoft\.KeyVault\((.*)\)$/;

/**
 * The secret URI of an App Service Key Vault reference, `@Microsoft.KeyVault(SecretUri=…)` or
 * `@Microsoft.KeyVault(VaultName=…;SecretName=…[;SecretVersion=…])`; null for any other text.
 */
export function keyVaultSecretUri(value: string): string | null {
  const body = KEY_VAULT_REFERENCE.exec(value.trim())?.[1];
  if (body === undefined) return null;
  const parts = new Map(body.split(";").map((part) => {
    const equals = part.indexOf("=");
    return [part.slice(0, equals).trim().toLowerCase(), part.slice(equals + 1).trim()] as const;
  }));
  const uri = parts.get("secreturi");
  if (uri !== undefined) return /^https:\/\/[^\s/]+\/secrets\/[^\s]+$/.test(uri) ? uri : null;
  const vault = parts.get("vaultname");
  const secret = parts.get("secretname");
  if (vault === undefined || secret === undefined || !/^[\w-]+$/.test(vault) || !/^[\w-]+$/.test(secret)) return null;
  const version = parts.get("secretversion");
  return `https://${vault}.vault.azure.net/secrets/${secret}${version === undefined || version === "" ? "" : `/${version}`}`;
}

/**
 * Username and password login to a registry: each a Key Vault secret reference ACR Tasks resolves with
 * `vaultIdentity` when the setting holds one — the registry's system identity by default, or the client id
 * of the user-assigned identity a task run carries (it has no system identity) — the value itself
 * (`Opaque`) otherwise.
 */
export function passwordCredentials(username: string, password: string, vaultIdentity: string = SYSTEM_IDENTITY): CustomRegistryCredentials {
  const userName = secretObject(username);
  const secret = secretObject(password);
  const vault = userName.type === "Vaultsecret" || secret.type === "Vaultsecret";
  return { userName, password: secret, ...(vault ? { identity: vaultIdentity } : {}) };
}

/**
 * Login to another ACR with a user-assigned identity the run carries (its client id): no secret at all.
 * Only a run that has the identity attached (a task run, see `task-runs.ts`) can use it.
 */
export function identityCredentials(clientId: string): CustomRegistryCredentials {
  return { identity: clientId };
}

function secretObject(value: string): SecretObject {
  const uri = keyVaultSecretUri(value);
  return uri === null ? { type: "Opaque", value } : { type: "Vaultsecret", value: uri };
}
