#' Read an AnnData file (.h5ad) as a SummarizedExperiment, without Python
#'
#' Reads an \code{.h5ad} file with rhdf5 alone (no Python is started), mapping AnnData to a
#' \code{SummarizedExperiment} the way the Bioconductor community does (as zellkonverter's
#' R reader): \code{X} transposed into the assay \code{"X"} (mutation types x samples, the
#' layout of MutationalPatterns' \code{mut_matrix}), \code{layers} into further assays,
#' \code{obs} into \code{colData}, \code{var} into \code{rowData}, each \code{obsm} entry
#' into a matrix column of \code{colData} (samples x components), each \code{varm} entry into
#' a matrix column of \code{rowData}, and \code{uns} into \code{metadata}.
#'
#' Files written by \code{sigfactor extract} (\code{result.h5ad}), by
#' \code{\link{write_anndata}} or by Python's anndata read the same way. For an extraction
#' stored under \code{key} (\code{"sigfactor"} by default), the columns of
#' \code{rowData(se)[["<key>_signatures"]]} and \code{colData(se)[["<key>_exposures"]]} are
#' named after \code{metadata(se)[[key]]$signature_names}.
#'
#' AnnData encodings read: dense arrays, CSR and CSC sparse matrices (as \code{Matrix}
#' sparse matrices), data frames with categorical, nullable and string columns, dictionaries,
#' strings and scalars. Whole numbers stored in 64 bits come back as doubles (restart seeds
#' reach 2^32); assays are double matrices; booleans come back as logical.
#'
#' @param file Path of the \code{.h5ad} file.
#'
#' @return A \code{SummarizedExperiment::SummarizedExperiment}.
#' @seealso \code{\link{write_anndata}}, \code{\link{read_extraction}}
#' @examples
#' if (sigfactor_available()) {
#'   mut_mat <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
#'   file <- tempfile(fileext = ".h5ad")
#'   write_anndata(mut_mat, file)
#'   se <- read_anndata(file)
#'   SummarizedExperiment::assay(se)[1:3, 1:3]
#' }
#' @export
read_anndata <- function(file) {
  if (!is.character(file) || length(file) != 1 || is.na(file)) {
    stop(sprintf("file = %s is not valid; expected the path of an .h5ad file.", shown(file)),
         call. = FALSE)
  }
  file <- normalizePath(path.expand(file), mustWork = FALSE)
  if (!file.exists(file)) {
    stop(sprintf("file = \"%s\" does not exist; expected an .h5ad file.", file), call. = FALSE)
  }
  if (!isTRUE(tryCatch(rhdf5::H5Fis_hdf5(file), error = function(e) FALSE))) {
    stop(sprintf("file = \"%s\" is not an HDF5 file; expected an .h5ad (AnnData) file.", file),
         call. = FALSE)
  }
  h5 <- list(file = file, listing = rhdf5::h5ls(file, recursive = TRUE, datasetinfo = TRUE))
  top <- children(h5, "/")
  if (!"X" %in% top || !all(c("obs", "var") %in% top)) {
    stop(sprintf("file = \"%s\" has no X, obs and var; expected an .h5ad (AnnData) file.", file),
         call. = FALSE)
  }
  obs <- read_element(h5, "/obs")
  var <- read_element(h5, "/var")
  dimnames <- list(rownames(var), rownames(obs))
  as_assay <- function(m) {
    m <- if (methods::is(m, "Matrix")) Matrix::t(m) else t(m)
    if (is.matrix(m)) storage.mode(m) <- "double"
    dimnames(m) <- dimnames
    m
  }
  assays <- list(X = as_assay(read_element(h5, "/X")))
  for (name in children(h5, "/layers")) {
    assays[[name]] <- as_assay(read_element(h5, paste0("/layers/", name)))
  }
  uns <- if ("uns" %in% top) read_element(h5, "/uns") else list()
  col_data <- S4Vectors::DataFrame(obs, check.names = FALSE)
  row_data <- S4Vectors::DataFrame(var, check.names = FALSE)
  for (name in children(h5, "/obsm")) {
    col_data[[name]] <- named_components(read_element(h5, paste0("/obsm/", name)), name, uns,
                                         "_exposures", rownames(obs))
  }
  for (name in children(h5, "/varm")) {
    row_data[[name]] <- named_components(read_element(h5, paste0("/varm/", name)), name, uns,
                                         "_signatures", rownames(var))
  }
  SummarizedExperiment::SummarizedExperiment(assays = assays, rowData = row_data,
                                             colData = col_data, metadata = uns)
}

# The names of the members of group `group`.
children <- function(h5, group) {
  listing <- h5$listing
  listing$name[listing$group == group]
}

# An obsm/varm matrix with its rownames, and its columns named after uns[[key]]$signature_names
# when it is "<key>_exposures" or "<key>_signatures".
named_components <- function(m, name, uns, suffix, rows) {
  if (!is.matrix(m)) {
    return(m)
  }
  rownames(m) <- rows
  key <- sub(paste0(suffix, "$"), "", name)
  labels <- if (endsWith(name, suffix) && is.list(uns[[key]])) uns[[key]]$signature_names
  if (length(labels) == ncol(m)) colnames(m) <- as.character(labels)
  m
}

# One AnnData element by its encoding-type: arrays (in Python's orientation), sparse matrices,
# data frames, categoricals, nullable arrays, dictionaries, strings and scalars.
read_element <- function(h5, path) {
  # Boolean attributes (an HDF5 enum, e.g. a categorical's "ordered") are not read by rhdf5;
  # they come back NA and are taken as FALSE.
  attributes <- suppressWarnings(rhdf5::h5readAttributes(h5$file, path))
  encoding <- attributes[["encoding-type"]]
  is_group <- any(paste0(h5$listing$group, ifelse(h5$listing$group == "/", "", "/"),
                         h5$listing$name) == path & h5$listing$otype == "H5I_GROUP")
  if (is.null(encoding)) {
    encoding <- if (is_group) "dict" else "array"
  }
  switch(encoding,
    "dataframe" = read_dataframe(h5, path, attributes),
    "dict" = , "anndata" = {
      members <- children(h5, path)
      stats::setNames(lapply(members, function(m) read_element(h5, paste0(path, "/", m))),
                      members)
    },
    "csr_matrix" = , "csc_matrix" = read_sparse(h5, path, attributes, encoding),
    "categorical" = {
      codes <- as.integer(read_dataset(h5, paste0(path, "/codes")))
      categories <- as.character(read_dataset(h5, paste0(path, "/categories")))
      codes[codes < 0] <- NA
      factor(categories[codes + 1L], levels = categories,
             ordered = isTRUE(as.logical(attributes[["ordered"]])))
    },
    "nullable-integer" = , "nullable-boolean" = , "nullable-string-array" = {
      values <- read_dataset(h5, paste0(path, "/values"))
      mask <- as.logical(read_dataset(h5, paste0(path, "/mask")))
      values[mask] <- NA
      values
    },
    read_dataset(h5, path)
  )
}

# A dataset as an R vector (1-d), a scalar (0-d), or a matrix in Python's orientation (rhdf5
# reads HDF5's row-major arrays transposed; they are turned back here). Integers come back as
# integer when they fit R's integers, else as doubles (which hold 64-bit seeds exactly); HDF5
# booleans (an enum) as logical.
read_dataset <- function(h5, path) {
  value <- rhdf5::h5read(h5$file, path, bit64conversion = "double", read.attributes = FALSE)
  listing <- h5$listing
  full <- paste0(listing$group, ifelse(listing$group == "/", "", "/"), listing$name)
  if (identical(listing$dclass[match(path, full)], "INTEGER") && is.double(value) &&
      all(abs(value) <= .Machine$integer.max, na.rm = TRUE)) {
    storage.mode(value) <- "integer"
  }
  if (is.factor(value) && identical(levels(value), c("FALSE", "TRUE"))) {
    dims <- dim(value)
    value <- as.logical(value)
    if (length(dims) > 1) dim(value) <- dims
  }
  dims <- dim(value)
  if (length(dims) <= 1) {
    return(as.vector(value))
  }
  if (length(dims) == 2) {
    return(t(value))
  }
  aperm(value)
}

# An AnnData data frame: columns in "column-order", rownames from the "_index" dataset.
read_dataframe <- function(h5, path, attributes) {
  index <- as.character(read_element(h5, paste0(path, "/", attributes[["_index"]])))
  order <- as.character(attributes[["column-order"]])
  columns <- lapply(order, function(column) read_element(h5, paste0(path, "/", column)))
  frame <- if (length(columns)) {
    as.data.frame(stats::setNames(columns, order), stringsAsFactors = FALSE,
                  check.names = FALSE, optional = TRUE)
  } else {
    data.frame(row.names = seq_along(index))
  }
  rownames(frame) <- index
  frame
}

# A CSR or CSC matrix (Python's orientation, rows x columns) as a Matrix sparse matrix.
read_sparse <- function(h5, path, attributes, encoding) {
  shape <- as.integer(attributes[["shape"]])
  data <- as.numeric(read_dataset(h5, paste0(path, "/data")))
  indices <- as.integer(read_dataset(h5, paste0(path, "/indices")))
  indptr <- as.integer(read_dataset(h5, paste0(path, "/indptr")))
  if (encoding == "csc_matrix") {
    return(Matrix::sparseMatrix(i = indices, p = indptr, x = data, dims = shape,
                                index1 = FALSE))
  }
  Matrix::t(Matrix::sparseMatrix(i = indices, p = indptr, x = data, dims = rev(shape),
                                 index1 = FALSE))
}
