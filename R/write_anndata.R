#' Write a catalogue, and optionally an extraction, as an AnnData file (.h5ad)
#'
#' Writes the counts as an AnnData object the way the engine stores catalogues
#' (\code{sigfactor.Catalogue.to_anndata}): \code{X} is samples x mutation types (AnnData's
#' orientation, the transpose of the R matrix), \code{obs} holds the samples, \code{var} the
#' mutation types (SigProfiler labels, in SigProfiler's order), and
#' \code{uns$sigfactor_catalogue} the kind. With a \code{SummarizedExperiment}, its
#' \code{colData} becomes \code{obs} and its \code{rowData} \code{var} (atomic columns; rows
#' matched by label). With \code{result} (from \code{\link{denovo_signatures}} or
#' \code{\link{read_extraction}}), the extraction is stored as \code{sigfactor extract} stores it
#' in \code{result.h5ad}: \code{varm[["<key>_signatures"]]} (mutation types x signatures),
#' \code{obsm[["<key>_exposures"]]} (samples x signatures) and \code{uns[[key]]} (rank,
#' signature names, selection reason, per-rank statistics, COSMIC matches and decomposition,
#' settings with seeds and versions).
#'
#' The file is written by the Python engine (anndata's layout), atomically: a failed write,
#' on a full disk for example, leaves no file and no existing file changed. Python's
#' \code{anndata.read_h5ad} and scanpy read it, and so does \code{\link{read_anndata}} in R
#' without Python.
#'
#' @param x Mutation counts: a numeric matrix (mutation types x samples), a data.frame or a
#'   \code{SummarizedExperiment}.
#' @param file Path of the \code{.h5ad} file to write (its folder must exist).
#' @param result \code{NULL}, or an extraction of these counts (a \code{sigfactor_extraction}
#'   list) to store with them.
#' @param key Name under which the extraction is stored (\code{"sigfactor"}, as the command
#'   line stores it).
#' @param assay With a \code{SummarizedExperiment}, the assay holding the counts (a name or a
#'   number); the first by default.
#' @param force Replace an existing file (\code{TRUE} or \code{FALSE}).
#'
#' @return \code{file}, invisibly.
#' @seealso \code{\link{read_anndata}}, \code{\link{denovo_signatures}}
#' @examples
#' if (sigfactor_available()) {
#'   mut_mat <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
#'   res <- denovo_signatures(mut_mat, ranks = 2:3, nrun = 5, seed = 1, verbose = FALSE)
#'   file <- tempfile(fileext = ".h5ad")
#'   write_anndata(mut_mat, file, result = res)
#'   se <- read_anndata(file)
#'   se
#' }
#' @export
write_anndata <- function(x, file, result = NULL, key = "sigfactor", assay = NULL,
                          force = FALSE) {
  force <- check_flag(force, "force")
  if (!is.character(file) || length(file) != 1 || is.na(file) || !nzchar(file)) {
    stop(sprintf("file = %s is not valid; expected the path of an .h5ad file to write.",
                 shown(file)), call. = FALSE)
  }
  file <- normalizePath(path.expand(file), mustWork = FALSE)
  if (file.exists(file) && !force) {
    stop(sprintf("file = \"%s\" already exists; choose another or pass force = TRUE.", file),
         call. = FALSE)
  }
  if (!dir.exists(dirname(file))) {
    stop(sprintf("file = \"%s\": folder '%s' does not exist; create it first.", file,
                 dirname(file)), call. = FALSE)
  }
  if (!is.character(key) || length(key) != 1 || is.na(key) || !nzchar(key)) {
    stop(sprintf("key = %s is not valid; expected a non-empty name.", shown(key)), call. = FALSE)
  }
  counts <- as_count_matrix(x, "x", assay = assay)
  catalogue <- engine_call(engine()$as_catalogue, to_engine(counts), name = "x",
                           names = c(x = "x"))
  adata <- catalogue$to_anndata()
  if (methods::is(x, "SummarizedExperiment")) {
    annotate_anndata(adata, x, counts)
  }
  if (!is.null(result)) {
    store_extraction(adata, result, key, counts)
  }
  folder <- reticulate::import("sigfactor.io.folder", convert = FALSE)
  engine_call(folder$write_h5ad, adata, file, overwrite = force)
  invisible(file)
}

# A SummarizedExperiment's colData as obs and rowData as var (rows matched by label).
annotate_anndata <- function(adata, x, counts) {
  obs <- as.data.frame(SummarizedExperiment::colData(x))
  var <- as.data.frame(SummarizedExperiment::rowData(x))
  if (ncol(obs) > 0) {
    rownames(obs) <- colnames(counts)
    adata$obs <- df_to_frame(obs, "colData")$reindex(adata$obs_names)
  }
  if (ncol(var) > 0) {
    rownames(var) <- canonical_labels(rownames(counts))
    adata$var <- df_to_frame(var, "rowData")$reindex(adata$var_names)
  }
  invisible(adata)
}

# The engine's canonical (SigProfiler) labels of mutation-type labels in any style.
canonical_labels <- function(labels) {
  as.character(unlist(reticulate::py_to_r(engine()$channels$to_canonical(as.list(labels)))))
}

# An R data.frame's atomic columns as a pandas DataFrame indexed by its rownames; other
# columns (lists, matrices, S4 objects) are left out with a warning naming them.
df_to_frame <- function(df, what) {
  atomic <- vapply(df, function(v) is.atomic(v) && is.null(dim(v)), TRUE)
  if (!all(atomic)) {
    warning(sprintf("%s column(s) %s are not plain vectors and are not written.", what,
                    paste0("'", names(df)[!atomic], "'", collapse = ", ")), call. = FALSE)
  }
  df <- df[atomic]
  pandas <- reticulate::import("pandas", convert = FALSE)
  columns <- lapply(df, column_to_py, pandas = pandas)
  frame <- pandas$DataFrame(reticulate::dict(columns),
                            index = reticulate::r_to_py(as.list(rownames(df))))
  frame
}

# One R column as a pandas column, NA kept as missing: factors and text as categoricals (as
# anndata stores text columns), logical and integer with NA as pandas' nullable types (plain
# conversion would turn NA into TRUE or -2147483648), doubles as they are (NA is NaN).
column_to_py <- function(v, pandas) {
  with_none <- function(v) lapply(v, function(e) if (is.na(e)) NULL else e)
  if (is.factor(v) || is.character(v)) {
    levels <- if (is.factor(v)) levels(v) else sort(unique(v[!is.na(v)]))
    return(pandas$Categorical(with_none(as.character(v)), categories = as.list(levels)))
  }
  if (is.logical(v) && anyNA(v)) {
    return(pandas$array(with_none(v), dtype = "boolean"))
  }
  if (is.integer(v) && anyNA(v)) {
    return(pandas$array(with_none(v), dtype = "Int64"))
  }
  reticulate::r_to_py(v)
}

# The extraction `result` in varm, obsm and uns, laid out as the engine's write_anndata does.
store_extraction <- function(adata, result, key, counts) {
  if (!is.list(result) || !all(c("signatures", "contribution") %in% names(result))) {
    text <- sprintf(paste0("result = %s is not valid; expected an extraction from ",
                           "denovo_signatures() or read_extraction()."), shown(result))
    stop(text, call. = FALSE)
  }
  signatures <- as_count_matrix(result$signatures, "result$signatures", what = "signature")
  frame <- to_engine(signatures)
  frame$index <- reticulate::r_to_py(as.list(canonical_labels(rownames(signatures))))
  exposures <- to_engine(result$contribution)$T
  missing <- setdiff(colnames(counts), colnames(result$contribution))
  if (length(missing) > 0) {
    stop(sprintf("result has no contribution for sample(s) %s of x; expected an extraction of x.",
                 paste0("'", utils::head(missing, 3), "'", collapse = ", ")), call. = FALSE)
  }
  reticulate::py_set_item(adata$varm, paste0(key, "_signatures"),
                          frame$loc[adata$var_names]$to_numpy())
  reticulate::py_set_item(adata$obsm, paste0(key, "_exposures"),
                          exposures$loc[adata$obs_names]$to_numpy())
  meta <- reticulate::import("sigfactor._meta", convert = FALSE)
  json <- reticulate::import("json", convert = FALSE)
  seeds <- result$seeds
  if (!is.null(seeds$rank_seeds)) {
    seeds$rank_seeds <- as.list(seeds$rank_seeds)   # a JSON object keyed by rank, as the engine's
  }
  settings <- c(result$settings, list(seeds = seeds, versions = as.list(result$versions)))
  settings <- json$loads(jsonlite::toJSON(settings, auto_unbox = TRUE, null = "null",
                                          na = "null", digits = NA))
  uns <- list(
    rank = as_py_int(result$rank),
    signature_names = as.list(colnames(signatures)),
    selection_reason = if (is.null(result$selection_reason)) "" else result$selection_reason,
    stats = df_to_frame(result$stats, "result$stats"),
    cosmic_matches = df_to_frame(empty_null(result$cosmic_matches), "result$cosmic_matches"),
    decompositions = df_to_frame(empty_null(result$cosmic), "result$cosmic"),
    settings = meta$plain(settings, none = "None")
  )
  reticulate::py_set_item(adata$uns, key, reticulate::dict(uns))
  invisible(adata)
}

empty_null <- function(x) if (is.null(x)) data.frame() else x
