# The boundary with the Python engine: the lazy import, the one call wrapper, and the one
# conversion function each way. Nothing else in the package touches Python objects' contents.
#
# Orientation: R (and MutationalPatterns) hold catalogues and signatures as mutation types x
# samples (or x signatures), rownames being the mutation-type labels. The engine reads a labelled
# pandas DataFrame in either orientation and matches rows by label, so to_engine() passes the
# matrix as it is, labelled, and from_engine() puts rows back in the caller's order by label.
# The engine's exposures (samples x signatures) are transposed once, on the Python side
# (`exposures$T`), into MutationalPatterns' contribution (signatures x samples).

.engine <- new.env(parent = emptyenv())

# The sigfactor Python module (imported without conversion), imported on first use.
engine <- function() {
  if (is.null(.engine$module)) {
    if (!engine_installed()) {
      stop(engine_missing_message(), call. = FALSE)
    }
    .engine$module <- tryCatch(
      reticulate::import("sigfactor", convert = FALSE),
      error = function(e) {
        stop("The Python engine 'sigfactor' is installed in ", python_path(),
             " but could not be imported: ", python_message(e), call. = FALSE)
      }
    )
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
    python_path(), "). Install it with `bash scripts/setup.sh` from the sigfactor source tree ",
    "and set RETICULATE_PYTHON to the .venv/bin/python it makes, or with ",
    "`pip install sigfactor` into that Python; then restart R."
  )
}

# Call `fun(...)` in the engine. A Python exception becomes an R error whose message is the
# Python message (no traceback); Python warnings become R warnings.
engine_call <- function(fun, ...) {
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
    stop(python_message(result), call. = FALSE)
  }
  for (w in reticulate::py_to_r(caught)) {
    warning(as.character(reticulate::py_str(w$message)), call. = FALSE)
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
  sub("\\s+$", "", message)
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

# R -> engine: a matrix with mutation types as rows becomes a labelled pandas DataFrame with
# the same orientation (the engine finds the channel labels and matches rows by label).
# `what` names the columns ("sample" or "signature") in messages.
to_engine <- function(x, name, what = "sample") {
  engine()
  if (!is.matrix(x) || !is.numeric(x)) {
    stop(sprintf(
      "%s is a %s; expected a numeric matrix with mutation types as rows (rownames) and %ss as columns.",
      name, paste(class(x), collapse = "/"), what
    ), call. = FALSE)
  }
  if (is.null(rownames(x))) {
    stop(sprintf(
      "%s has no rownames; expected mutation-type labels such as 'A[C>A]A' as rownames.", name
    ), call. = FALSE)
  }
  if (is.null(colnames(x))) {
    stop(sprintf("%s has no column names; expected one name per %s.", name, what), call. = FALSE)
  }
  bad <- which(is.na(x), arr.ind = TRUE)
  if (nrow(bad) > 0) {
    stop(sprintf(
      "%s has %d missing (NA) value(s), first in %s '%s', mutation type '%s'; expected counts.",
      name, nrow(bad), what, colnames(x)[bad[1, 2]], rownames(x)[bad[1, 1]]
    ), call. = FALSE)
  }
  bad <- which(x < 0, arr.ind = TRUE)
  if (nrow(bad) > 0) {
    stop(sprintf(
      "%s has %d negative value(s), first %s in %s '%s', mutation type '%s'; expected non-negative values.",
      name, nrow(bad), format(x[bad[1, 1], bad[1, 2]]), what, colnames(x)[bad[1, 2]],
      rownames(x)[bad[1, 1]]
    ), call. = FALSE)
  }
  pandas <- reticulate::import("pandas", convert = FALSE)
  storage.mode(x) <- "double"
  pandas$DataFrame(
    reticulate::np_array(unname(x), dtype = "float64"),
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
                 paste0("'", rows[is.na(position)][1:min(3, sum(is.na(position)))], "'",
                        collapse = ", ")), call. = FALSE)
  }
  values <- values[position, , drop = FALSE]
  rownames(values) <- rows
  values
}
