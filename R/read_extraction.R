#' Read an extraction folder written by sigfactor or SigProfilerExtractor
#'
#' Reads the output folder of \code{\link{denovo_signatures}(out = )}, of the command line
#' \code{sigfactor extract}, or of SigProfilerExtractor (1.x), into the list
#' \code{\link{denovo_signatures}} returns: the suggested solution's signatures, activities
#' and reconstruction in MutationalPatterns' layout, the per-rank statistics, the COSMIC
#' decomposition and every rank's solution.
#'
#' The folder holds one subfolder per kind of catalogue (\code{SBS96}, \code{DBS78},
#' \code{ID83}) in SigProfilerExtractor's layout: \code{All_solutions_stat.csv},
#' \code{All_Solutions/<kind>_<k>_Signatures/} and \code{Suggested_Solution/} with the de novo
#' and the COSMIC-decomposed solutions. Signature tables are read by the engine's reader
#' (\code{sigfactor.reference.read_signatures}, which knows every label style) and returned in
#' MutationalPatterns' labels and order; the other tables are read in R.
#'
#' What the files hold limits what comes back: signatures have 8 significant digits in
#' sigfactor's files; activities are whole mutation counts (both tools round them); the
#' per-rank statistics have the precision of \code{All_solutions_stat.csv}, named as in
#' \code{denovo_signatures()}'s \code{stats} (SigProfilerExtractor's "Mean Sample L1\%" and
#' "Mean Sample L2\%" hold medians, hence \code{median_sample_l1_pct} and
#' \code{median_sample_l2_pct}). Seeds, versions, settings, the selection reason and the
#' one-to-one COSMIC matches come from sigfactor's \code{run.json}; for a SigProfilerExtractor
#' folder, the versions come from \code{JOB_METADATA.txt} and the others are \code{NULL}.
#'
#' @param dir The output folder.
#' @param kind Which kind's results to read (\code{"SBS96"}, \code{"DBS78"}, \code{"ID83"});
#'   \code{NULL} for the only one there.
#'
#' @return A list of class \code{sigfactor_extraction}, as \code{\link{denovo_signatures}}
#'   describes, with \code{out} = \code{dir} and \code{tool} = \code{"sigfactor"} or
#'   \code{"SigProfilerExtractor"}.
#'
#' @seealso \code{\link{denovo_signatures}}, \code{\link{read_anndata}} for \code{result.h5ad}
#' @examples
#' if (sigfactor_available()) {
#'   mut_mat <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
#'   out <- file.path(tempdir(), "breast21-extraction")
#'   res <- denovo_signatures(mut_mat, ranks = 2:3, nrun = 5, seed = 1, verbose = FALSE,
#'                            out = out, force = TRUE, plots = FALSE)
#'   again <- read_extraction(out)
#'   again$rank
#'   max(abs(again$signatures - res$signatures))
#' }
#' @export
read_extraction <- function(dir, kind = NULL) {
  if (!is.character(dir) || length(dir) != 1 || is.na(dir)) {
    stop(sprintf("dir = %s is not valid; expected the path of an extraction folder.", shown(dir)),
         call. = FALSE)
  }
  dir <- normalizePath(path.expand(dir), mustWork = FALSE)
  if (!dir.exists(dir)) {
    stop(sprintf("dir = \"%s\" does not exist; expected an extraction folder.", dir),
         call. = FALSE)
  }
  kind <- folder_kind(dir, kind)
  base <- file.path(dir, kind)
  rows <- mutation_types(kind)
  suggested <- file.path(base, "Suggested_Solution")
  signatures <- read_signature_file(
    file.path(suggested, paste0(kind, "_De-Novo_Solution"), "Signatures",
              paste0(kind, "_De-Novo_Signatures.txt")), rows)
  contribution <- read_activity_file(
    file.path(suggested, paste0(kind, "_De-Novo_Solution"), "Activities",
              paste0(kind, "_De-Novo_Activities_refit.txt")))
  cosmic_folder <- file.path(suggested, paste0("COSMIC_", kind, "_Decomposed_Solution"))
  stats <- read_solutions_stat(file.path(base, "All_solutions_stat.csv"))
  run <- read_run_json(file.path(dir, "run.json"))
  tool <- if (is.null(run)) "SigProfilerExtractor" else "sigfactor"
  structure(list(
    signatures = signatures,
    contribution = contribution,
    reconstructed = engine_product(signatures, contribution),
    rank = ncol(signatures),
    selection_reason = if (is.null(run)) NULL else run$selection_reason,
    stats = stats,
    cosmic = read_decomposition(file.path(cosmic_folder,
                                          paste0("De_Novo_map_to_COSMIC_", kind, ".csv"))),
    cosmic_matches = if (is.null(run)) NULL else run_matches(run$cosmic_matches),
    cosmic_signatures = read_signature_file(
      file.path(cosmic_folder, "Signatures", paste0("COSMIC_", kind, "_Signatures.txt")), rows),
    cosmic_contribution = read_activity_file(
      file.path(cosmic_folder, "Activities", paste0("COSMIC_", kind, "_Activities.txt"))),
    solutions = read_all_solutions(base, kind, stats$rank, rows),
    seeds = if (is.null(run)) NULL else run$seeds,
    versions = if (is.null(run)) job_versions(file.path(dir, "JOB_METADATA.txt")) else
      unlist(run$versions),
    settings = if (is.null(run)) NULL else
      run[setdiff(names(run), c("seeds", "versions", "selection_reason", "cosmic_matches"))],
    out = dir,
    tool = tool
  ), class = "sigfactor_extraction")
}

# The kind subfolder to read: `kind`, or the only one present.
folder_kind <- function(dir, kind) {
  present <- c("SBS96", "DBS78", "ID83")[
    file.exists(file.path(dir, c("SBS96", "DBS78", "ID83"), "All_solutions_stat.csv"))]
  if (is.null(kind)) {
    if (length(present) == 1) {
      return(present)
    }
    if (length(present) == 0) {
      text <- sprintf(paste0(
        "dir = \"%s\" holds no SBS96/, DBS78/ or ID83/ folder with All_solutions_stat.csv; ",
        "expected the output folder of sigfactor or SigProfilerExtractor."), dir)
      stop(text, call. = FALSE)
    }
    stop(sprintf("dir = \"%s\" holds results for %s; pass kind = one of them.", dir,
                 paste0("\"", present, "\"", collapse = " and ")), call. = FALSE)
  }
  if (!is.character(kind) || length(kind) != 1 || !kind %in% present) {
    stop(sprintf("kind = %s is not in dir = \"%s\"; expected one of %s.", shown(kind), dir,
                 paste0("\"", present, "\"", collapse = ", ")), call. = FALSE)
  }
  kind
}

must_exist <- function(path) {
  if (!file.exists(path)) {
    stop(sprintf("'%s' is missing; expected it in an extraction folder.", path), call. = FALSE)
  }
  path
}

# A signature table (mutation types x signatures, any label style) through the engine's reader,
# rows in `rows` (MutationalPatterns' order).
read_signature_file <- function(path, rows) {
  reference <- reticulate::import("sigfactor.reference", convert = FALSE)
  frame <- engine_call(reference$read_signatures, must_exist(path))
  from_engine(frame, rows = rows)
}

# An activity table (samples x signatures, first column the sample names) as signatures x
# samples.
read_activity_file <- function(path) {
  table <- utils::read.delim(must_exist(path), check.names = FALSE, stringsAsFactors = FALSE,
                             colClasses = c("character"))
  values <- as.matrix(table[-1])
  storage.mode(values) <- "double"
  rownames(values) <- table[[1]]
  t(values)
}

# signatures %*% contribution, computed by the engine (the R layer holds no numerics).
engine_product <- function(signatures, contribution) {
  product <- to_engine(signatures)$dot(to_engine(contribution))
  from_engine(product, rows = rownames(signatures))
}

# Columns of All_solutions_stat.csv and their names in denovo_signatures()$stats.
STAT_COLUMNS <- c(
  "Stability (Avg Silhouette)" = "avg_stability", "Minimum Stability" = "min_stability",
  "Matrix Frobenius%" = "matrix_frobenius_pct", "Mean Sample L1%" = "median_sample_l1_pct",
  "Maximum Sample L1%" = "max_sample_l1_pct", "Mean Sample L2%" = "median_sample_l2_pct",
  "Maximum Sample L2%" = "max_sample_l2_pct", "Mean Sample KL" = "mean_sample_kl",
  "Maximum Sample KL" = "max_sample_kl", "Mean Cosine Distance" = "mean_cosine_distance",
  "Max Cosine Distance" = "max_cosine_distance", "Mean Correlation" = "mean_correlation",
  "Minimum Correlation" = "min_correlation"
)

# All_solutions_stat.csv as a data.frame with denovo_signatures()'s column names: `rank`, the
# numbers without their "%", `considered` (YES/NO), `p_value` (NA for "N/A" and for the
# highest stable rank's "Most Stab Sigs") and `chosen` (the starred rank).
read_solutions_stat <- function(path) {
  table <- utils::read.csv(must_exist(path), check.names = FALSE, stringsAsFactors = FALSE,
                           colClasses = "character", strip.white = TRUE)
  label <- table[["Signatures"]]
  number <- function(x) suppressWarnings(as.numeric(sub("%$", "", x)))
  stats <- data.frame(rank = as.integer(sub("\\*$", "", label)))
  for (column in intersect(names(STAT_COLUMNS), names(table))) {
    stats[[STAT_COLUMNS[[column]]]] <- number(table[[column]])
  }
  stats$considered <- toupper(table[["Considerable Solution"]]) == "YES"
  stats$p_value <- number(table[["P-value"]])
  stats$chosen <- endsWith(label, "*")
  stats
}

# De_Novo_map_to_COSMIC_<kind>.csv (fields separated by ", ") as a data.frame; the names
# SigProfilerExtractor writes as "Signature 96-SBS96A" and "Signature SBS1" become "SBS96A"
# and "SBS1", as sigfactor writes them.
read_decomposition <- function(path) {
  table <- utils::read.csv(must_exist(path), check.names = FALSE, stringsAsFactors = FALSE,
                           strip.white = TRUE)
  for (column in which(vapply(table, is.character, TRUE))) {
    table[[column]] <- gsub("Signature ([0-9]+-)?", "", table[[column]])
  }
  table
}

# Every rank's signatures, activities and stabilities under All_Solutions/.
read_all_solutions <- function(base, kind, ranks, rows) {
  solutions <- lapply(ranks, function(k) {
    folder <- file.path(base, "All_Solutions", sprintf("%s_%d_Signatures", kind, k))
    stability <- utils::read.delim(
      must_exist(file.path(folder, "Solution_Stats", sprintf("%s_S%d_Signatures_stats.txt", kind, k))),
      check.names = FALSE, stringsAsFactors = FALSE)
    list(signatures = read_signature_file(
           file.path(folder, "Signatures", sprintf("%s_S%d_Signatures.txt", kind, k)), rows),
         contribution = read_activity_file(
           file.path(folder, "Activities", sprintf("%s_S%d_NMF_Activities.txt", kind, k))),
         stability = stats::setNames(as.numeric(stability[["Stability"]]), stability[[1]]))
  })
  stats::setNames(solutions, as.character(ranks))
}

# sigfactor's run.json as a list (NULL when absent, as in SigProfilerExtractor folders).
read_run_json <- function(path) {
  if (!file.exists(path)) {
    return(NULL)
  }
  run <- jsonlite::fromJSON(path, simplifyVector = TRUE, simplifyDataFrame = FALSE,
                            simplifyMatrix = FALSE)
  run$seeds$rank_seeds <- unlist(run$seeds$rank_seeds)
  run
}

# run.json's one-to-one COSMIC matches (a list of records) as a data.frame.
run_matches <- function(records) {
  do.call(rbind, lapply(records, function(r) as.data.frame(r, stringsAsFactors = FALSE)))
}

# Versions from SigProfilerExtractor's JOB_METADATA.txt ("SigProfilerExtractor Version: 1.4.1").
job_versions <- function(path) {
  if (!file.exists(path)) {
    return(NULL)
  }
  pattern <- "^([A-Za-z][A-Za-z0-9-]*( [A-Za-z0-9-]+)*) [Vv]ersion: *(.*)$"
  lines <- grep(pattern, readLines(path, warn = FALSE), value = TRUE)
  stats::setNames(trimws(sub(pattern, "\\3", lines)), sub(pattern, "\\1", lines))
}
