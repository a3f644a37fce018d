# Few restarts and iterations keep these fast; the engine's own tests cover the numerics.
# The iteration cap is reached, so the engine's convergence warning is silenced here.
# Frobenius unless a test says otherwise (R's default is KL, tested below).
quick_fit <- function(mut_matrix, loss = "frobenius", ...) {
  suppressWarnings(factorize_signatures(mut_matrix, rank = 2, n_restarts = 2, max_iter = 100,
                                        seed = 7, progress = FALSE, loss = loss, ...))
}

# The fit of the example that several tests look at, made once.
example_fit <- local({
  fit <- NULL
  function() {
    if (is.null(fit)) fit <<- quick_fit(example_mut_matrix())
    fit
  }
})

test_that("the result has MutationalPatterns' layout, labelled like the input", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  res <- example_fit()
  expect_identical(dimnames(res$signatures), list(rownames(mm), c("SBS96A", "SBS96B")))
  expect_identical(dimnames(res$contribution), list(c("SBS96A", "SBS96B"), colnames(mm)))
  expect_identical(dimnames(res$reconstructed), dimnames(mm))
  expect_equal(unname(colSums(res$signatures)), c(1, 1), tolerance = 1e-6)
  expect_true(all(res$signatures >= 0) && all(res$contribution >= 0))
  expect_equal(res$reconstructed, res$signatures %*% res$contribution, tolerance = 1e-12)
  # The fit is real: it explains most of the counts.
  expect_gt(cor(as.vector(res$reconstructed), as.vector(mm)), 0.9)
  expect_true(res$restart %in% 1:2)
  expect_length(res$seeds, 2)
  expect_true(is.finite(res$loss) && res$loss > 0)
  expect_identical(res$settings$model, "nmf")
  expect_identical(res$settings$seed, 7)
  expect_identical(res$settings$restart_seeds, res$seeds)
  expect_identical(res$settings$versions$sigfactor, sigfactor_config()$sigfactor)
  expect_type(res$settings$versions$torch, "character")
})

test_that("MutationalPatterns' plotting and renaming functions take the result", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  res <- example_fit()
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_s3_class(MutationalPatterns::plot_96_profile(res$signatures), "ggplot")
  print(MutationalPatterns::plot_96_profile(res$signatures))
  print(MutationalPatterns::plot_contribution(res$contribution, res$signatures,
                                              mode = "absolute"))
  print(MutationalPatterns::plot_compare_profiles(mm[, 1], res$reconstructed[, 1]))
  known <- MutationalPatterns::get_known_signatures()
  rownames(known) <- rownames(mm)
  renamed <- MutationalPatterns::rename_nmf_signatures(res, known, cutoff = 0.5)
  expect_identical(colnames(renamed$signatures), rownames(renamed$contribution))
  expect_true(all(grepl("-like$", colnames(renamed$signatures))))
})

test_that("rows are matched by label, not by position", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  shuffled <- mm[rev(seq_len(nrow(mm))), ]
  a <- example_fit()
  b <- quick_fit(shuffled)
  expect_identical(rownames(b$signatures), rownames(shuffled))
  expect_identical(b$signatures[rownames(mm), ], a$signatures)
  expect_identical(b$reconstructed[rownames(mm), ], a$reconstructed)
  expect_identical(b$contribution, a$contribution)
})

test_that("other kinds and label styles keep the input's labels (ID83, MutationalPatterns style)", {
  skip_if_no_engine()
  channels <- python_engine()$channels
  labels <- unlist(reticulate::py_to_r(channels$order("ID83", "mutationalpatterns")))
  set.seed(2)
  counts <- matrix(rpois(83 * 6, 30), 83, 6, dimnames = list(labels, paste0("s", 1:6)))
  res <- quick_fit(counts)
  expect_identical(dimnames(res$signatures), list(labels, c("ID83A", "ID83B")))
  expect_identical(dimnames(res$reconstructed), dimnames(counts))
})

test_that("the same seed gives the same result from R as from Python", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  res <- example_fit()
  warnings <- reticulate::import("warnings", convert = FALSE)
  with(warnings$catch_warnings(), {
    warnings$simplefilter("ignore")
    fit <- python_engine()$factorize(pandas_frame(mm), 2L, n_restarts = 2L, max_iter = 100L,
                                     seed = 7L)
  })
  best <- fit$best()
  expect_identical(res$signatures, frame_matrix(best$signatures)[rownames(mm), ])
  expect_identical(res$contribution, t(frame_matrix(best$exposures)))
  expect_identical(res$seeds, as.numeric(reticulate::py_to_r(fit$seeds$astype("float64"))))
  expect_identical(res$loss, reticulate::py_to_r(best$loss))
  # Another seed gives another start, hence other numbers.
  other <- suppressWarnings(factorize_signatures(mm, rank = 2, n_restarts = 2, max_iter = 100,
                                                 seed = 8, progress = FALSE, loss = "frobenius"))
  expect_false(identical(other$signatures, res$signatures))
})

test_that("KL NMF (the engine's compiled CPU kernels, on threads) runs from R as from Python", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  res <- quick_fit(mm, loss = "kl", threads = 2L)
  expect_identical(res$settings$loss, "kl")
  expect_identical(res$settings$threads, 2L)
  expect_gt(cor(as.vector(res$reconstructed), as.vector(mm)), 0.9)
  warnings <- reticulate::import("warnings", convert = FALSE)
  with(warnings$catch_warnings(), {
    warnings$simplefilter("ignore")
    fit <- python_engine()$factorize(pandas_frame(mm), 2L, loss = "kl", n_restarts = 2L,
                                     max_iter = 100L, seed = 7L, threads = 1L)
  })
  # Each restart runs alone in the kernels: one thread or two, bitwise the same result.
  expect_identical(res$signatures, frame_matrix(fit$best()$signatures)[rownames(mm), ])
  expect_identical(res$loss, reticulate::py_to_r(fit$best()$loss))
})

test_that("a restart's seed reruns it alone, seeds beyond R's integers included", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  res <- example_fit()
  for (restart in 1:2) {
    again <- suppressWarnings(factorize_signatures(mm, rank = 2, n_restarts = 1, max_iter = 100,
                                                   seed = list(res$seeds[restart]),
                                                   progress = FALSE, loss = "frobenius"))
    expect_identical(again$seeds, res$seeds[restart])
    # Alone or in a batch, float32 arithmetic may round differently: equal to rounding.
    if (restart == res$restart) expect_equal(again$signatures, res$signatures, tolerance = 1e-5)
  }
  # Seed 7's restart seeds include one above R's largest integer (2^31 - 1), so the round
  # trip above goes through Python ints that R cannot hold as integers.
  expect_true(any(res$seeds > .Machine$integer.max))
  both <- suppressWarnings(factorize_signatures(mm, rank = 2, n_restarts = 2, max_iter = 100,
                                                seed = res$seeds, progress = FALSE,
                                                loss = "frobenius"))
  expect_identical(both$signatures, res$signatures)
  expect_null(both$settings$seed)
  big <- suppressWarnings(factorize_signatures(mm, rank = 2, n_restarts = 1, max_iter = 20,
                                               seed = 4e9, progress = FALSE))
  expect_identical(big$settings$seed, 4e9)
})

test_that("convex NMF and AE-NMF run through the same interface", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  convex <- quick_fit(mm, model = "convex")
  expect_identical(convex$settings$model, "convex")
  expect_identical(dim(convex$signatures), c(96L, 2L))
  aenmf <- quick_fit(mm, model = "aenmf", loss = "kl", constraint = "pg")
  expect_identical(aenmf$settings$model, "aenmf")
  expect_identical(aenmf$settings$loss, "kl")
  expect_identical(aenmf$settings$constraint, "pg")
  expect_identical(dimnames(aenmf$reconstructed), dimnames(mm))
  mvnmf <- quick_fit(mm, model = "mvnmf", loss = "kl")
  expect_identical(mvnmf$settings$model, "mvnmf")
  expect_equal(unname(colSums(mvnmf$signatures)), c(1, 1), tolerance = 1e-5)
})

test_that("R's default loss is KL, as MutationalPatterns' brunet; Frobenius for convex NMF", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  # A default that stayed the engine's Frobenius would fail here.
  kl <- suppressWarnings(factorize_signatures(mm, rank = 2, n_restarts = 1, max_iter = 50,
                                              progress = FALSE))
  expect_identical(kl$settings$loss, "kl")
  convex <- suppressWarnings(factorize_signatures(mm, rank = 2, model = "convex", n_restarts = 1,
                                                  max_iter = 50, progress = FALSE))
  expect_identical(convex$settings$loss, "frobenius")
})

test_that("the engine's convergence warning reaches R as a warning, in R's words", {
  skip_if_no_engine()
  expect_warning(
    factorize_signatures(example_mut_matrix(), rank = 2, n_restarts = 1, max_iter = 10,
                         progress = FALSE, loss = "frobenius"),
    "1 of 1 restart\\(s\\) did not converge within max_iter = 10"
  )
})

test_that("bad input gives plain errors naming the argument", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  expect_error(factorize_signatures(as.vector(mm), rank = 2),
               "mut_matrix is a numeric vector; expected a numeric matrix", fixed = TRUE)
  expect_error(factorize_signatures(unname(mm), rank = 2),
               "mut_matrix has no rownames", fixed = TRUE)
  with_na <- mm
  with_na[3, 2] <- NA
  expect_error(factorize_signatures(with_na, rank = 2),
               "mut_matrix has 1 missing (NA) value(s), first in sample 'colon2', mutation type 'A[C>A]G'",
               fixed = TRUE)
  negative <- mm
  negative[5, 1] <- -1
  expect_error(factorize_signatures(negative, rank = 2),
               "mut_matrix has 1 negative value(s), first -1 in sample 'colon1', mutation type 'C[C>A]A'",
               fixed = TRUE)
  expect_error(factorize_signatures(mm, rank = 2, model = "pca"),
               "model = \"pca\" is not valid; expected one of \"nmf\", \"convex\", \"aenmf\", \"mvnmf\".",
               fixed = TRUE)
  expect_error(factorize_signatures(mm, rank = 2, loss = "poisson"),
               "loss = \"poisson\" is not valid", fixed = TRUE)
  expect_error(factorize_signatures(mm, rank = 2, progress = NA),
               "progress = NA is not valid; expected TRUE or FALSE.", fixed = TRUE)
})

test_that("the engine's own errors pass through as R errors without a traceback", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  error <- tryCatch(factorize_signatures(mm, rank = 20), error = function(e) e)
  expect_identical(conditionMessage(error), "rank = 20 is out of range; expected an integer <= 9.")
  expect_null(conditionCall(error))
  expect_error(factorize_signatures(mm, rank = 0), "rank = 0 is out of range", fixed = TRUE)
  expect_error(factorize_signatures(mm, rank = 2.5),
               "rank = 2.5 is not valid; expected an integer.", fixed = TRUE)
  expect_error(factorize_signatures(mm, rank = 2, model = "convex", loss = "kl"),
               "loss = \"kl\" is not available for model = \"convex\"", fixed = TRUE)
  expect_error(factorize_signatures(mm, rank = 2, model = "aenmf", constraint = "relu"),
               "constraint = \"relu\" is not valid", fixed = TRUE)
  expect_error(factorize_signatures(mm, rank = 2, constraint = "pg"),
               "constraint = \"pg\" applies to model = \"aenmf\" only", fixed = TRUE)
  expect_error(factorize_signatures(mm, rank = 2, seed = -1), "seed = -1 is not valid", fixed = TRUE)
  expect_error(factorize_signatures(mm, rank = 2, device = "tpu"), "device = \"tpu\" is not valid",
               fixed = TRUE)
  wrong_labels <- mm
  rownames(wrong_labels)[1] <- "X[C>A]A"
  expect_error(factorize_signatures(wrong_labels, rank = 2), "X[C>A]A", fixed = TRUE)
})
