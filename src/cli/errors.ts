import { ChainStoreError } from '../errors.ts'

/** A command-line option or argument that does not parse (`--blocks abc`), or a usage error commander reports. */
export class InvalidOptionError extends ChainStoreError {}
/** An input file (a `block put` file) that is empty, cut short, not JSON, binary, or not readable as a file. */
export class InvalidInputFileError extends ChainStoreError {}
/** An input file that does not exist. */
export class InputFileNotFoundError extends ChainStoreError {}
/** An output file (`init -o`) that cannot be written where it was asked. */
export class InvalidOutputFileError extends ChainStoreError {}
/** A path the user named that cannot be used as asked (ENOTDIR, EEXIST, EISDIR, ENAMETOOLONG, ELOOP), from any command. */
export class InvalidPathError extends ChainStoreError {}
/** A path the user named that does not exist (ENOENT), from any command. */
export class PathNotFoundError extends ChainStoreError {}
/** A path the user named that this process may not read or write (EACCES, EPERM, EROFS). */
export class PathNotPermittedError extends ChainStoreError {}
/** `chainstore init` found a config file where it would write one (pass --force to overwrite it). */
export class ConfigExistsError extends ChainStoreError {}
