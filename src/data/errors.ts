// Typed data errors: bad CSV input and tokenizer problems. The message is one line that says what
// is wrong and where (row as a spreadsheet shows it: the header is row 1, the first data row is
// row 2; the column by its header name), so the UI and the CLI can show it as is.

export type DataErrorKind =
  | 'empty' // no bytes, or only whitespace / a BOM
  | 'no-rows' // a header line but no data rows
  | 'columns' // a required column is missing (or a mapped name is not in the header)
  | 'quotes' // a quoted field never closes, or a stray quote breaks a field
  | 'delimiter' // the file does not split into the expected columns
  | 'encoding' // bytes that are not valid UTF-8
  | 'cell-too-long' // a cell over the maximum length
  | 'tokenizer' // the tokenizer files are unusable
  | 'config'; // an option out of range (split fractions, budgets...)

export class DataError extends Error {
  constructor(
    readonly kind: DataErrorKind,
    message: string,
    /** Spreadsheet row (header = 1), when the problem has one. */
    readonly row?: number,
    /** Column header name, when the problem has one. */
    readonly column?: string,
  ) {
    super(message);
    this.name = `DataError(${kind})`;
  }
}
