#' Extract mutational signatures with NMF, convex NMF or AE-NMF
#'
#' Factorizes a mutation matrix into signatures and their contributions with the 'sigfactor'
#' Python engine (\code{sigfactor.factorize}), all restarts fitted as one batch, and returns
#' the restart with the lowest final loss in the layout of
#' \code{MutationalPatterns::extract_signatures}, so that \code{plot_96_profile},
#' \code{plot_contribution} and \code{rename_nmf_signatures} take it as it is.
#'
#' Rows are matched by label: the rows of the result are the rows of \code{mut_matrix}, in the
#' same order and with the same names, whatever order the engine works in.
#'
#' @param mut_matrix Mutation counts with mutation types as rows (rownames such as
#'   \code{"A[C>A]A"}, any label style the engine knows: SBS96, DBS78 or ID83) and samples as
#'   columns (with names), as made by \code{MutationalPatterns::mut_matrix}: a numeric matrix,
#'   a data.frame, or a \code{SummarizedExperiment} (see \code{assay}).
#' @param rank Number of signatures, a whole number between 1 and the smaller of the numbers
#'   of samples and mutation types.
#' @param model \code{"nmf"} (multiplicative updates), \code{"convex"} (convex NMF, Ding, Li
#'   and Jordan 2010), \code{"aenmf"} (the linear autoencoder of Egendal et al. 2025) or
#'   \code{"mvnmf"} (minimum-volume NMF, signatures on the simplex).
#' @param loss \code{"kl"} (generalized Kullback-Leibler, Poisson; the default, as
#'   MutationalPatterns' \code{"brunet"} NMF) or \code{"frobenius"} (squared error). Convex NMF
#'   takes \code{"frobenius"} only, which is then the default. (The Python engine's
#'   \code{factorize} defaults to \code{"frobenius"}, scikit-learn's default; R follows
#'   MutationalPatterns.)
#' @param constraint AE-NMF's non-negativity scheme, one of \code{"fpabs"} (the default for
#'   AE-NMF when \code{NULL}), \code{"fppg"}, \code{"pg"} or \code{"abs"}; \code{NULL} for the
#'   other models.
#' @param n_restarts Number of independent restarts, fitted as one batch.
#' @param max_iter Maximum number of iterations of each restart.
#' @param tol Relative change of the loss below which a restart has converged.
#' @param seed A non-negative whole number from which every restart's seed is drawn, or the
#'   per-restart seeds themselves as a list (or a vector longer than one) of \code{n_restarts}
#'   whole numbers: \code{seed = list(res$seeds[res$restart])} with \code{n_restarts = 1}
#'   reruns the chosen restart of an earlier result \code{res}.
#' @param device \code{"auto"} (a GPU when there is one), \code{"cpu"}, \code{"cuda"} or
#'   \code{"cuda:N"}.
#' @param progress Report progress as R messages (\code{TRUE} or \code{FALSE});
#'   \code{suppressMessages()} silences them too.
#' @param threads CPU threads for the fit, or \code{NULL} for the engine's default (all of
#'   PyTorch's threads for KL NMF, whose compiled kernels give each thread whole restarts;
#'   one thread for small batches of the other models). KL NMF results do not depend on it.
#' @param assay With a \code{SummarizedExperiment}, the assay holding the counts (a name or a
#'   number); the first by default.
#'
#' @return A named list:
#' \describe{
#'   \item{signatures}{Mutation types x \code{rank} matrix, each column summing to 1, columns
#'     named \code{SBS96A}, \code{SBS96B}, ... (\code{DBS78A}, \code{ID83A}, ... for other
#'     kinds).}
#'   \item{contribution}{\code{rank} x samples matrix of contributions.}
#'   \item{reconstructed}{Mutation types x samples matrix, \code{signatures \%*\% contribution}
#'     (computed by the engine).}
#'   \item{loss}{Final per-entry loss of the returned restart (mean squared error or mean
#'     generalized Kullback-Leibler divergence).}
#'   \item{restart}{Which restart was returned (1-based).}
#'   \item{seeds}{The seeds of all restarts.}
#'   \item{settings}{The engine's record of the fit: model, loss, constraint, iterations,
#'     tolerance, device, data type, seeds, versions and timing.}
#' }
#'
#' @seealso \code{\link{refit_signatures}}, \code{MutationalPatterns::extract_signatures}
#' @examples
#' if (sigfactor_available()) {
#'   mut_mat <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
#'   res <- factorize_signatures(mut_mat, rank = 3, n_restarts = 5, seed = 1)
#'   res$signatures[1:3, ]
#' }
#' @export
factorize_signatures <- function(mut_matrix, rank, model = c("nmf", "convex", "aenmf", "mvnmf"),
                                 loss = c("kl", "frobenius"), constraint = NULL,
                                 n_restarts = 10, max_iter = 10000, tol = 1e-6, seed = 0,
                                 device = "auto", progress = interactive(), threads = NULL,
                                 assay = NULL) {
  model <- match_choice(model)
  loss <- if (missing(loss) && model == "convex") "frobenius" else match_choice(loss)
  progress <- check_flag(progress, "progress")
  counts <- as_count_matrix(mut_matrix, "mut_matrix", assay = assay)
  catalogue <- to_engine(counts)
  fit <- with_progress(progress, "Fitting", function(progress) {
    engine_call(
      engine()$factorize, catalogue, as_py_int(rank),
      model = model, loss = loss, constraint = constraint,
      n_restarts = as_py_int(n_restarts), max_iter = as_py_int(max_iter), tol = tol,
      seed = as_py_int(seed), device = device, progress = progress,
      threads = if (is.null(threads)) NULL else as_py_int(threads),
      names = c(X = "mut_matrix")
    )
  }, report = progress_reporter("stages"))
  best <- fit$best()
  settings <- reticulate::py_to_r(fit$settings)
  # reticulate 1.28 wraps Python ints above 2^31 - 1 around, and restart seeds reach 2^32:
  # the seeds cross as float64, which holds them exactly.
  seeds <- as.numeric(reticulate::py_to_r(fit$seeds$astype("float64")))
  settings$restart_seeds <- seeds
  settings$versions <- lapply(settings$versions, as_text)
  settings["seed"] <- list(if (is.numeric(seed) && length(seed) == 1) as.numeric(seed) else NULL)
  list(
    signatures = from_engine(best$signatures, rows = rownames(counts)),
    contribution = from_engine(best$exposures$T),
    reconstructed = from_engine(best$signatures$dot(best$exposures$T),
                                rows = rownames(counts)),
    loss = reticulate::py_to_r(best$loss),
    restart = reticulate::py_to_r(best$restart) + 1L,
    seeds = seeds,
    settings = settings
  )
}
