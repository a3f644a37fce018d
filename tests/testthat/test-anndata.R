# AnnData both ways: written from R through the engine, read in R with rhdf5 alone; checked
# against Python's anndata reading the same files (through reticulate, not the package).

breast21 <- function() {
  read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor",
                             mustWork = TRUE))
}

# One small extraction and the folder the command line writes for the same arguments, made once.
extraction <- local({
  cached <- NULL
  function() {
    if (is.null(cached)) {
      mm <- breast21()
      res <- suppressWarnings(denovo_signatures(mm, ranks = 2:3, nrun = 5, seed = 3,
                                                max_iter = 300, verbose = FALSE))
      out <- tempfile("cli-")
      cli <- file.path(dirname(reticulate::py_config()$python), "sigfactor")
      status <- system2(cli, c("extract", shQuote(system.file("extdata", "breast21_SBS96.txt",
                                                               package = "sigfactor")),
                               "--ranks", "2-3", "--restarts", "5", "--seed", "3",
                               "--max-iter", "300", "--no-plots", "--quiet", "--out",
                               shQuote(out)), stdout = FALSE, stderr = FALSE)
      cached <<- list(mm = mm, res = res, cli = out, status = status)
    }
    cached
  }
})

read_with_anndata <- function(file) reticulate::import("anndata", convert = FALSE)$read_h5ad(file)

numbers <- function(x) {
  values <- reticulate::py_to_r(reticulate::import("numpy", convert = FALSE)$asarray(x, dtype = "float64"))
  if (length(dim(values)) == 1) as.vector(values) else values
}
strings <- function(x) as.character(unlist(reticulate::py_to_r(x$tolist())))

test_that("Python's anndata reads what R wrote: every count, label and result field", {
  skip_if_no_engine()
  e <- extraction()
  mm <- e$mm
  res <- e$res
  file <- tempfile(fileext = ".h5ad")
  write_anndata(mm, file, result = res)
  adata <- read_with_anndata(file)
  obs <- strings(adata$obs_names)
  var <- strings(adata$var_names)
  expect_identical(obs, colnames(mm))
  expect_identical(var, mutation_types("SBS96", "sigprofiler"))
  # X is samples x mutation types: the R matrix transposed, rows matched by label.
  X <- numbers(adata$X)
  dimnames(X) <- list(obs, var)
  expect_identical(X, t(mm[var, ]))
  signatures <- numbers(adata$varm[["sigfactor_signatures"]])
  expect_identical(signatures, unname(res$signatures[var, ]))
  exposures <- numbers(adata$obsm[["sigfactor_exposures"]])
  expect_identical(exposures, unname(t(res$contribution)[obs, ]))
  uns <- adata$uns[["sigfactor"]]
  expect_identical(reticulate::py_to_r(uns[["rank"]]), res$rank)
  expect_identical(strings(uns[["signature_names"]]), colnames(res$signatures))
  expect_identical(reticulate::py_to_r(uns[["selection_reason"]]), res$selection_reason)
  expect_identical(numbers(uns[["stats"]][["avg_stability"]]), res$stats$avg_stability)
  # Seeds beyond R's integers: read as a Python float (reticulate would wrap a large int).
  seed <- uns[["settings"]][["seeds"]][["rank_seeds"]][["3"]]
  expect_identical(reticulate::py_to_r(reticulate::import_builtins(convert = FALSE)$float(seed)),
                   res$seeds$rank_seeds[["3"]])
})

test_that("R writes the same AnnData fields as the command line's result.h5ad", {
  skip_if_no_engine()
  e <- extraction()
  expect_identical(e$status, 0L)
  file <- tempfile(fileext = ".h5ad")
  write_anndata(e$mm, file, result = e$res)
  ours <- read_with_anndata(file)
  theirs <- read_with_anndata(file.path(e$cli, "result.h5ad"))
  keys <- function(mapping) {
    sort(as.character(unlist(reticulate::py_to_r(
      reticulate::import_builtins(convert = FALSE)$list(mapping$keys())))))
  }
  expect_identical(keys(ours$uns), keys(theirs$uns))
  expect_identical(keys(ours$uns[["sigfactor"]]), keys(theirs$uns[["sigfactor"]]))
  expect_identical(keys(ours$varm), keys(theirs$varm))
  expect_identical(keys(ours$obsm), keys(theirs$obsm))
  # Same seed, same engine: the same numbers, bit for bit.
  expect_identical(numbers(ours$X), numbers(theirs$X))
  expect_identical(numbers(ours$varm[["sigfactor_signatures"]]),
                   numbers(theirs$varm[["sigfactor_signatures"]]))
  expect_identical(numbers(ours$obsm[["sigfactor_exposures"]]),
                   numbers(theirs$obsm[["sigfactor_exposures"]]))
  expect_identical(strings(ours$uns[["sigfactor"]][["stats"]]$columns),
                   strings(theirs$uns[["sigfactor"]][["stats"]]$columns))
})

test_that("denovo_signatures(out =) writes the command line's folder, table for table", {
  skip_if_no_engine()
  e <- extraction()
  out <- tempfile("r-folder-")
  suppressWarnings(denovo_signatures(e$mm, ranks = 2:3, nrun = 5, seed = 3, max_iter = 300,
                                     verbose = FALSE, out = out, plots = FALSE))
  ours <- sort(list.files(file.path(out, "SBS96"), recursive = TRUE))
  theirs <- sort(list.files(file.path(e$cli, "SBS96"), recursive = TRUE))
  expect_identical(ours, theirs)
  expect_true(length(ours) >= 10)
  # Same seed, same engine: every table is the same file, byte for byte.
  expect_identical(unname(tools::md5sum(file.path(out, "SBS96", ours))),
                   unname(tools::md5sum(file.path(e$cli, "SBS96", theirs))))
  expect_true(file.exists(file.path(out, "result.h5ad")))
})

test_that("R reads the command line's result.h5ad with rhdf5 into a SummarizedExperiment", {
  skip_if_no_engine()
  e <- extraction()
  se <- read_anndata(file.path(e$cli, "result.h5ad"))
  expect_s4_class(se, "SummarizedExperiment")
  mm <- e$mm
  res <- e$res
  counts <- SummarizedExperiment::assay(se, "X")
  expect_identical(colnames(counts), colnames(mm))
  expect_identical(counts[rownames(mm), ], mm)
  signatures <- SummarizedExperiment::rowData(se)$sigfactor_signatures
  expect_identical(signatures[rownames(res$signatures), ], res$signatures)
  exposures <- SummarizedExperiment::colData(se)$sigfactor_exposures
  expect_identical(t(exposures), res$contribution)
  uns <- S4Vectors::metadata(se)$sigfactor
  expect_identical(uns$rank, res$rank)
  expect_identical(uns$selection_reason, res$selection_reason)
  stats <- uns$stats
  rownames(stats) <- NULL
  expect_identical(stats$rank, res$stats$rank)
  expect_identical(stats$avg_stability, res$stats$avg_stability)
  expect_identical(stats$chosen, res$stats$chosen)
  expect_identical(uns$settings$seeds$rank_seeds[["3"]], res$seeds$rank_seeds[["3"]])
  expect_identical(S4Vectors::metadata(se)$sigfactor_catalogue$kind, "SBS96")
})

test_that("reading .h5ad needs no Python at all", {
  skip_if_no_engine()
  e <- extraction()
  python <- python_without_engine()
  output <- run_with_python(c(
    sprintf("se <- read_anndata(%s)", deparse(file.path(e$cli, "result.h5ad"))),
    "cat('DIM:', dim(se), '\\n')",
    "cat('PYTHON STARTED:', reticulate::py_available(initialize = FALSE), '\\n')"
  ), python)
  text <- paste(output, collapse = "\n")
  expect_match(text, "DIM: 96 21", fixed = TRUE)
  expect_match(text, "PYTHON STARTED: FALSE", fixed = TRUE)
})

test_that("a SummarizedExperiment round-trips: counts, labels, colData and rowData, NA kept", {
  skip_if_no_engine()
  mm <- breast21()
  n <- ncol(mm)
  col_data <- S4Vectors::DataFrame(
    tissue = factor(rep(c("ductal", "lobular", "other"), length.out = n)),
    depth = c(NA, seq_len(n - 1)),
    purity = c(seq(0.5, 0.9, length.out = n - 1), NA),
    treated = rep(c(TRUE, FALSE, NA), length.out = n),
    row.names = colnames(mm))
  row_data <- S4Vectors::DataFrame(weight = seq_len(96) / 96, row.names = rownames(mm))
  se <- SummarizedExperiment::SummarizedExperiment(
    assays = list(counts = mm), colData = col_data, rowData = row_data)
  file <- tempfile(fileext = ".h5ad")
  write_anndata(se, file)
  back <- read_anndata(file)
  expect_identical(SummarizedExperiment::assay(back)[rownames(mm), ], mm)
  got <- SummarizedExperiment::colData(back)
  expect_identical(rownames(got), colnames(mm))
  expect_identical(got$tissue, col_data$tissue)
  expect_identical(got$depth, col_data$depth)
  expect_identical(got$purity, col_data$purity)
  expect_identical(got$treated, col_data$treated)
  expect_identical(SummarizedExperiment::rowData(back)[rownames(mm), "weight"], row_data$weight)
  expect_error(write_anndata(se, file), "already exists; choose another or pass force = TRUE.",
               fixed = TRUE)
  expect_silent(write_anndata(se, file, force = TRUE))
})

test_that("sparse X and layers written by Python's anndata are read as the dense counts", {
  skip_if_no_engine()
  mm <- breast21()
  anndata <- reticulate::import("anndata", convert = FALSE)
  sparse <- reticulate::import("scipy.sparse", convert = FALSE)
  pandas <- reticulate::import("pandas", convert = FALSE)
  counts <- reticulate::np_array(t(mm), dtype = "float64")
  for (format in c("csr", "csc")) {
    matrix <- if (format == "csr") sparse$csr_matrix(counts) else sparse$csc_matrix(counts)
    adata <- anndata$AnnData(X = matrix,
                             obs = pandas$DataFrame(index = as.list(colnames(mm))),
                             var = pandas$DataFrame(index = as.list(rownames(mm))))
    reticulate::py_set_item(adata$layers, "doubled", sparse$csr_matrix(counts$`__mul__`(2)))
    file <- tempfile(fileext = ".h5ad")
    adata$write_h5ad(file)
    se <- read_anndata(file)
    expect_identical(as.matrix(SummarizedExperiment::assay(se, "X")), mm)
    expect_identical(as.matrix(SummarizedExperiment::assay(se, "doubled")), 2 * mm)
  }
})

test_that("files that are not AnnData are refused in plain words", {
  missing <- file.path(tempdir(), "no-such.h5ad")
  expect_error(read_anndata(missing), "does not exist; expected an .h5ad file.", fixed = TRUE)
  text <- tempfile(fileext = ".h5ad")
  writeLines("not hdf5", text)
  expect_error(read_anndata(text), "is not an HDF5 file; expected an .h5ad (AnnData) file.",
               fixed = TRUE)
  h5 <- tempfile(fileext = ".h5")
  rhdf5::h5createFile(h5)
  rhdf5::h5write(1:3, h5, "numbers")
  expect_error(read_anndata(h5), "has no X, obs and var", fixed = TRUE)
})
