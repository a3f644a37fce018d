# Count matrices from what R users hold: a numeric matrix, a data.frame or a
# SummarizedExperiment, checked (labels, orientation, NA, negative values) before anything is
# fitted. The engine matches rows by label, so nothing here reorders anything.

# `x` as a double matrix with mutation types as rows and `what`s (samples, signatures) as
# columns, or an error naming argument `name`:
# - a SummarizedExperiment gives its assay `assay` (a name or a number; the first by default);
# - a data.frame gives its numeric columns, a first column of text becoming the rownames
#   (a table written with the mutation types as its first column);
# - a matrix is taken as it is.
# The rownames must be mutation-type labels; a matrix whose column names are mutation types
# instead (samples as rows) is answered with one sentence before any work.
as_count_matrix <- function(x, name, what = "sample", assay = NULL) {
  if (methods::is(x, "SummarizedExperiment")) {
    x <- se_assay(x, name, assay)
  } else if (!is.null(assay)) {
    stop(sprintf("assay = %s applies to a SummarizedExperiment; %s is a %s.", shown(assay), name,
                 class(x)[1]), call. = FALSE)
  }
  if (is.data.frame(x)) {
    x <- data_frame_matrix(x, name)
  }
  if (!is.matrix(x) || !(is.numeric(x) || is.logical(x) && all(is.na(x)))) {
    text <- sprintf(paste0(
      "%s %s; expected a numeric matrix (or a data.frame or SummarizedExperiment) with ",
      "mutation types as rows (rownames) and %ss as columns."),
      name, if (is.null(x)) "is NULL" else paste("is a", describe_class(x)), what)
    stop(text, call. = FALSE)
  }
  storage.mode(x) <- "double"
  check_labels(x, name, what)
  check_values(x, name, what)
  x
}

# The class of `x` in words for messages ("numeric vector", "character matrix", "list").
describe_class <- function(x) {
  if (is.matrix(x)) {
    return(paste(typeof(x), "matrix"))
  }
  if (is.atomic(x) && !is.null(x)) {
    return(paste(if (is.double(x)) "numeric" else typeof(x), "vector"))
  }
  paste(class(x), collapse = "/")
}

# The counts of a SummarizedExperiment: assay `assay` (a name or a number, the first when NULL)
# as a matrix with the object's dimnames.
se_assay <- function(x, name, assay) {
  available <- SummarizedExperiment::assayNames(x)
  n_assays <- length(SummarizedExperiment::assays(x))
  if (n_assays == 0) {
    stop(sprintf("%s is a SummarizedExperiment without assays; expected one holding counts.",
                 name), call. = FALSE)
  }
  if (is.null(assay)) {
    assay <- 1L
  }
  valid <- (is.character(assay) && length(assay) == 1 && !is.na(assay) &&
              assay %in% available) ||
    (is.numeric(assay) && length(assay) == 1 && !is.na(assay) && assay == round(assay) &&
       assay >= 1 && assay <= n_assays)
  if (!valid) {
    choices <- if (length(available)) paste0("\"", available, "\"", collapse = ", ") else
      sprintf("numbers 1 to %d (its assays have no names)", n_assays)
    stop(sprintf("assay = %s is not an assay of %s; expected one of %s.", shown(assay), name,
                 choices), call. = FALSE)
  }
  counts <- SummarizedExperiment::assay(x, assay, withDimnames = TRUE)
  as.matrix(counts)
}

# A data.frame of counts as a matrix; a leading text column holds the row labels.
data_frame_matrix <- function(x, name) {
  if (ncol(x) >= 2 && (is.character(x[[1]]) || is.factor(x[[1]])) &&
      !any(vapply(x[-1], function(v) is.character(v) || is.factor(v), TRUE))) {
    labels <- as.character(x[[1]])
    x <- x[-1]
    rownames(x) <- make_unique_or_fail(labels, name)
  }
  text <- !vapply(x, function(v) is.numeric(v) || is.logical(v) && all(is.na(v)), TRUE)
  if (any(text)) {
    stop(sprintf(
      "%s has non-numeric column(s) %s; expected counts in every column (mutation types as rownames).",
      name, paste0("'", names(x)[text][seq_len(min(3, sum(text)))], "'", collapse = ", ")),
      call. = FALSE)
  }
  labels <- if (.row_names_info(x) > 0) rownames(x) else NULL
  m <- as.matrix(x)
  rownames(m) <- labels
  m
}

make_unique_or_fail <- function(labels, name) {
  if (anyDuplicated(labels)) {
    stop(sprintf("%s's first column repeats the label '%s'; expected each mutation type once.",
                 name, labels[anyDuplicated(labels)]), call. = FALSE)
  }
  labels
}

# Rownames that are mutation types, column names that are not; samples as rows is refused with
# one sentence.
check_labels <- function(x, name, what) {
  channels <- engine()$channels
  kind_of <- function(labels) {
    if (is.null(labels)) {
      return(NULL)
    }
    tryCatch(reticulate::py_to_r(channels$detect_kind(as.list(labels))),
             error = function(e) stop(sprintf("%s: %s", name, r_message(python_message(e))),
                                      call. = FALSE))
  }
  rows <- kind_of(rownames(x))
  columns <- kind_of(colnames(x))
  if (is.null(rows) && !is.null(columns)) {
    text <- sprintf(paste0(
      "%s has %ss as rows and mutation types as columns (%d x %d, column names such as '%s'); ",
      "expected mutation types as rows: pass t(%s)."),
      name, what, nrow(x), ncol(x), colnames(x)[1], name)
    stop(text, call. = FALSE)
  }
  if (is.null(rownames(x))) {
    stop(sprintf("%s has no rownames; expected mutation-type labels such as 'A[C>A]A' as rownames.",
                 name), call. = FALSE)
  }
  if (is.null(rows)) {
    text <- sprintf(paste0(
      "%s's rownames (%s) are not mutation types; expected labels such as 'A[C>A]A' (SBS96), ",
      "'AC>CA' (DBS78) or '1:Del:C:0' (ID83) as rownames."),
      name, paste0("'", utils::head(rownames(x), 3), "'", collapse = ", "))
    stop(text, call. = FALSE)
  }
  if (is.null(colnames(x))) {
    stop(sprintf("%s has no column names; expected one name per %s.", name, what), call. = FALSE)
  }
  invisible(rows)
}

check_values <- function(x, name, what) {
  bad <- which(is.na(x), arr.ind = TRUE)
  if (nrow(bad) > 0) {
    stop(sprintf(
      "%s has %d missing (NA) value(s), first in %s '%s', mutation type '%s'; expected counts.",
      name, nrow(bad), what, colnames(x)[bad[1, 2]], rownames(x)[bad[1, 1]]
    ), call. = FALSE)
  }
  bad <- which(is.infinite(x), arr.ind = TRUE)
  if (nrow(bad) > 0) {
    stop(sprintf(
      "%s has %d infinite value(s), first in %s '%s', mutation type '%s'; expected finite counts.",
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
  invisible(x)
}
