import { EngineError, ErrorCode } from '../errors/engine-error.js';

/**
 * The local index cache failed a check. Nothing in the repository is wrong: the cache is rebuilt
 * from the repository's index objects when it is opened again.
 */
export class CacheDamagedError extends EngineError {
  constructor(file: string, problem: string) {
    super(ErrorCode.CACHE, `the local index cache ${file} is damaged: ${problem}`, {
      hint: 'the cache has been set aside and is rebuilt from the repository on the next run: run the command again',
      details: { file },
    });
  }
}
