"""Knowledge base: the articles agents are shown, their language variants, seed content."""
