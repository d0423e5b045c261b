// The data pipeline's public API: CSV → clean → chat template + tokens/labels → split → packing.
export { DataError, type DataErrorKind } from './errors';
export {
  loadLlama3Tokenizer,
  fixLlama31SpecialTokens,
  LLAMA31_SPECIAL_FIXES,
  type Tokenizer,
  type TokenizerSource,
  type ChatMessage,
  type ChatRole,
  type ChatTemplateOptions,
} from './tokenizer';
export { LLAMA31_CHAT_TEMPLATE, LLAMA31_DEFAULT_DATE } from './llama31-template';
export { parseCsv, decodeCsvInput, DEFAULT_MAX_CELL_CHARS, type ColumnMapping, type CsvOptions, type ParsedCsv, type RawRecord } from './csv';
export {
  cleanRecords,
  normalizeText,
  userText,
  emptyDropCounts,
  DROP_REASONS,
  DEFAULT_UNSAFE_PATTERNS,
  SPECIAL_TOKEN_TEXT,
  type CleanOptions,
  type CleanRecord,
  type CleanResult,
  type DropCounts,
  type DropReason,
} from './clean';
export { toMessages, tokenizeExample, DEFAULT_SYSTEM_PROMPT_BN, IGNORE_INDEX, type TokenizedExample } from './format';
export { splitIndices, parseSplit, DEFAULT_SPLIT, type SplitFractions, type SplitIndices } from './split';
export { packBatches, epochOrder, shiftedTargets, type PackOptions, type PackResult, type PackedBatch } from './pack';
export { tokenStats, histogram, type TokenStats, type HistogramBin } from './stats';
export {
  prepareDataset,
  toChatJsonl,
  DEFAULT_MAX_TOKENS,
  type PrepareOptions,
  type PreparedDataset,
  type PreparedExample,
  type DataReport,
} from './pipeline';
