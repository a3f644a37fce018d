# The boundary with the Python engine: the lazy import and version check, the one call
# wrapper, and the one conversion function each way. Nothing else in the package touches
# Python objects' contents.
#
# Orientation: R (and MutationalPatterns) hold catalogues and signatures as mutation types x
# samples (or x signatures), rownames being the mutation-type labels. The engine reads a labelled
# pandas DataFrame in either orientation and matches rows by label, so to_engine() passes the
# matrix as it is, labelled, and from_engine() puts rows back in the caller's order by label.
# The engine's exposures (samples x signatures) are transposed once, on the Python side
# (`exposures$T`), into MutationalPatterns' contribution (signatures x samples).

.engine <- new.env(parent = emptyenv())

# The sigfactor Python module (imported without conversion), imported and version-checked on
# first use.
engine <- function() {
  if (is.null(.engine$module)) {
    if (!engine_installed()) {
      stop(engine_missing_message(), call. = FALSE)
    }
    module <- tryCatch(
      reticulate::import("sigfactor", convert = FALSE),
      error = function(e) {
        stop("The Python engine 'sigfactor' is installed in ", python_path(),
             " but could not be imported: ", python_message(e), call. = FALSE)
      }
    )
    check_engine_version(as_text(module$`__version__`))
    .engine$module <- module
  }
  .engine$module
}

# Whether Python finds a module 'sigfactor' (without importing it, so that an engine that is
# installed but fails to import is told apart from a missing one).
engine_installed <- function() {
  tryCatch({
    util <- reticulate::import("importlib.util", convert = TRUE)
    !is.null(util$find_spec("sigfactor"))
  }, error = function(e) FALSE)
}

# The engine version this R package is written for (DESCRIPTION, Config/sigfactor/engine).
engine_version_required <- function() {
  path <- getNamespaceInfo(asNamespace("sigfactor"), "path")
  unname(read.dcf(file.path(path, "DESCRIPTION"), fields = "Config/sigfactor/engine")[1, 1])
}

# An error, saying how to fix it, when the engine's version is not the one this package needs.
check_engine_version <- function(found) {
  required <- engine_version_required()
  if (!identical(found, required)) {
    text <- sprintf(paste0(
      "The Python engine in %s is sigfactor %s, but this R package (sigfactor %s) needs the ",
      "engine version %s. Install the matching engine with `sigfactor::install_sigfactor()` ",
      "(or `pip install sigfactor==%s` into that Python), then restart R."),
      python_path(), found, utils::packageVersion("sigfactor"), required, required)
    stop(text, call. = FALSE)
  }
  invisible(found)
}

# The Python interpreter reticulate uses (or would use), for messages.
python_path <- function() {
  config <- tryCatch(reticulate::py_config(), error = function(e) NULL)
  if (!is.null(config)) {
    return(config$python)
  }
  chosen <- Sys.getenv("RETICULATE_PYTHON")
  if (nzchar(chosen)) chosen else "none found"
}

engine_missing_message <- function() {
  paste0(
    "The Python engine 'sigfactor' is not installed in the Python that reticulate uses (",
    python_path(), "). Install it with `sigfactor::install_sigfactor()` and restart R; ",
    "or run `bash scripts/setup.sh` in the sigfactor source tree and set RETICULATE_PYTHON ",
    "to the .venv/bin/python it makes; or `pip install sigfactor` into that Python."
  )
}

# Call `fun(...)` in the engine. A Python exception becomes an R error whose message is the
# engine's message in R's words (no traceback, see r_message()); Python warnings become R
# warnings. `names` maps the engine's argument names to the R function's (n_restarts = "nrun").
engine_call <- function(fun, ..., names = character()) {
  warnings_module <- reticulate::import("warnings", convert = FALSE)
  recorder <- warnings_module$catch_warnings(record = TRUE)
  caught <- recorder$`__enter__`()
  exited <- FALSE
  on.exit(if (!exited) recorder$`__exit__`(NULL, NULL, NULL), add = TRUE)
  warnings_module$simplefilter("always")
  result <- tryCatch(fun(...), error = function(e) e)
  recorder$`__exit__`(NULL, NULL, NULL)
  exited <- TRUE
  if (inherits(result, "error")) {
    stop(r_message(python_message(result), names), call. = FALSE)
  }
  for (w in reticulate::py_to_r(caught)) {
    warning(r_message(as.character(reticulate::py_str(w$message)), names), call. = FALSE)
  }
  result
}

# The message of a Python exception without its type and traceback; other errors as they are.
python_message <- function(error) {
  message <- conditionMessage(error)
  last <- tryCatch(reticulate::py_last_error(), error = function(e) NULL)
  if (!is.null(last) && is.character(last$type) && is.character(last$value) &&
      startsWith(message, paste0(last$type, ":")) && grepl(last$value, message, fixed = TRUE)) {
    return(last$value)
  }
  # Other reticulate versions add a hint line; keep the Python message alone.
  message <- sub("\\n?Run `reticulate::py_last_error\\(\\)` for details\\.?", "", message)
  message <- sub("^[A-Za-z_.]*(Error|Exception|Warning): ", "", message)
  sub("\\s+$", "", message)
}

# An engine message in R's words: `name=value` becomes `name = value` with the R argument's
# name (`names` maps engine names to R names), Python's None/True/False/nan become
# NULL/TRUE/FALSE/NaN, and a quoted value after `=` takes R's double quotes.
r_message <- function(text, names = character()) {
  for (python_name in names(names)) {
    text <- gsub(sprintf("\\b%s=", python_name), paste0(names[[python_name]], "="), text,
                 perl = TRUE)
  }
  text <- gsub("\\b([A-Za-z_][A-Za-z0-9_.]*)=(?![=])", "\\1 = ", text, perl = TRUE)
  text <- gsub("= '([^']*)'", "= \"\\1\"", text)
  text <- gsub("\\bNone\\b", "NULL", text, perl = TRUE)
  text <- gsub("\\bTrue\\b", "TRUE", text, perl = TRUE)
  text <- gsub("\\bFalse\\b", "FALSE", text, perl = TRUE)
  gsub("\\bnan\\b", "NaN", text, perl = TRUE)
}

# R values that must reach Python as integers (counts, seeds): whole numbers become Python
# ints (also beyond R's integer range, as restart seeds are). A vector longer than one, or a
# list, becomes a Python list of them. Anything else is passed as it is, so that the engine's
# own check names the argument and the value.
as_py_int <- function(x) {
  if (is.list(x)) {
    return(reticulate::r_to_py(lapply(x, as_py_int)))
  }
  if (!is.numeric(x) || length(x) == 0 || anyNA(x) || any(!is.finite(x)) ||
      any(x != round(x))) {
    return(x)
  }
  builtins <- reticulate::import_builtins(convert = FALSE)
  values <- lapply(as.numeric(x), function(v) builtins$int(sprintf("%.0f", v)))
  if (length(values) == 1) values[[1]] else reticulate::r_to_py(values)
}

# A Python string (or str subclass, such as torch's version) or an R string as an R string.
as_text <- function(x) {
  if (inherits(x, "python.builtin.object")) as.character(reticulate::py_str(x)) else as.character(x)
}

# R -> engine: a checked count matrix (from as_count_matrix()), mutation types as rows, becomes
# a labelled pandas DataFrame with the same orientation (the engine finds the channel labels
# and matches rows by label). Whole numbers go as 64-bit integers, as the engine reads counts
# from files (so the catalogues it writes back, e.g. Samples.txt, are the command line's), other
# values as doubles; the engine computes in floating point either way.
to_engine <- function(x) {
  pandas <- reticulate::import("pandas", convert = FALSE)
  whole <- all(x == round(x)) && all(abs(x) < 2^53)
  pandas$DataFrame(
    reticulate::np_array(unname(x), dtype = if (whole) "int64" else "float64"),
    index = reticulate::r_to_py(as.list(rownames(x))),
    columns = reticulate::r_to_py(as.list(colnames(x)))
  )
}

# Engine -> R: a labelled pandas DataFrame becomes a double matrix with its dimnames. With
# `rows` (mutation-type labels in any style the engine knows), the rows are matched to them by
# label and returned in that order, named `rows`.
from_engine <- function(frame, rows = NULL) {
  values <- reticulate::py_to_r(frame$to_numpy(dtype = "float64"))
  row_labels <- as.character(unlist(reticulate::py_to_r(frame$index$astype("str")$tolist())))
  col_labels <- as.character(unlist(reticulate::py_to_r(frame$columns$astype("str")$tolist())))
  values <- matrix(as.numeric(values), nrow = length(row_labels), ncol = length(col_labels),
                   dimnames = list(row_labels, col_labels))
  if (is.null(rows)) {
    return(values)
  }
  to_canonical <- engine()$channels$to_canonical
  wanted <- unlist(reticulate::py_to_r(to_canonical(as.list(rows))))
  found <- unlist(reticulate::py_to_r(to_canonical(as.list(row_labels))))
  position <- match(wanted, found)
  if (anyNA(position)) {
    stop(sprintf("The engine's result lacks mutation type(s) %s.",
                 paste0("'", utils::head(rows[is.na(position)], 3), "'",
                        collapse = ", ")), call. = FALSE)
  }
  values <- values[position, , drop = FALSE]
  rownames(values) <- rows
  values
}

# The engine's record of a run (a dict of settings, seeds, versions) as an R list, through
# JSON: whole numbers beyond R's integers (restart seeds reach 2^32) arrive as doubles, which
# hold them exactly, not wrapped around as reticulate's integer conversion would.
settings_from_engine <- function(settings) {
  json <- reticulate::import("json", convert = FALSE)
  plain <- reticulate::import("sigfactor._meta", convert = FALSE)$plain
  text <- reticulate::py_to_r(json$dumps(plain(settings), allow_nan = TRUE))
  jsonlite::fromJSON(text, simplifyVector = TRUE, simplifyDataFrame = FALSE,
                     simplifyMatrix = FALSE, bigint_as_char = FALSE)
}

# A pandas DataFrame (any column types) as an R data.frame; the index becomes a first column
# named `index` when given, otherwise rownames when it is not a plain 0..n-1 range.
frame_to_df <- function(frame, index = NULL) {
  pandas <- reticulate::import("pandas", convert = FALSE)
  frame <- frame$copy()
  columns <- as.character(unlist(reticulate::py_to_r(frame$columns$astype("str")$tolist())))
  frame$columns <- reticulate::r_to_py(as.list(columns))
  result <- lapply(columns, function(column) py_column(frame[[column]]))
  names(result) <- columns
  result <- as.data.frame(result, stringsAsFactors = FALSE, check.names = FALSE,
                          optional = TRUE)
  row_labels <- py_column(frame$index$to_series())
  if (!is.null(index)) {
    result <- cbind(stats::setNames(data.frame(row_labels, stringsAsFactors = FALSE), index),
                    result)
  } else if (!isTRUE(reticulate::py_bool(frame$index$equals(
      pandas$RangeIndex(reticulate::py_len(frame)))))) {
    rownames(result) <- as.character(row_labels)
  }
  result
}

# One pandas column (a Series) as an R vector: booleans as logical, integers as integer (or
# double when they exceed R's integers), floats as double, anything else as character, with
# missing values as NA.
py_column <- function(series) {
  types <- reticulate::import("pandas.api.types", convert = FALSE)
  test <- function(f) isTRUE(reticulate::py_bool(f(series)))
  missing <- as.logical(unlist(reticulate::py_to_r(series$isna()$tolist())))
  if (test(types$is_bool_dtype)) {
    values <- as.logical(unlist(reticulate::py_to_r(series$tolist())))
  } else if (test(types$is_integer_dtype)) {
    values <- as.numeric(unlist(reticulate::py_to_r(series$astype("float64")$tolist())))
    if (all(abs(values) <= .Machine$integer.max)) values <- as.integer(values)
  } else if (test(types$is_numeric_dtype)) {
    values <- as.numeric(unlist(reticulate::py_to_r(series$astype("float64")$tolist())))
  } else {
    values <- as.character(unlist(reticulate::py_to_r(series$astype("str")$tolist())))
  }
  values[missing] <- NA
  values
}
