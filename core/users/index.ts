/**
 * Users and password storage: 3proxy's `users` table and its password formats
 * (CL, CR `$1$`/`$3$`, NT), plus bcrypt and SHA-crypt.
 */
export { UserTable } from './users';
export type { UserVerifyResult } from './users';
export { parseUsersFile, parseUserEntry, usersSection } from './users-file';
export type { UsersFile, UsersFileEntry, UsersSection } from './users-file';
export {
  authErrorCode,
  hashPassword,
  verifyParsed,
  verifyParsedAsync,
  verifyPassword,
  verifyPasswordAsync,
} from './passwords';
export type { HashType, VerifyResult } from './passwords';
export { parseStoredPassword } from './stored-password';
export type { ParseResult, ParsedPassword, PasswordType } from './stored-password';
